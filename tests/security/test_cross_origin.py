"""A web page the user visits must not drive the server (auth off, the default).

A browser on the same machine is a loopback client, so the loopback-only routes alone do not
stop a foreign page: these replay what such a page can send (simple requests that skip the
CORS preflight, a websocket, a DNS-rebound Host) against a live server."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import socketio

from conftest import LiveServer

EVIL = "https://evil.example"
SECRET = "sk-live-do-not-leak-4242"


def assert_refused_cross_origin(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "FORBIDDEN"
    assert "Cross-origin request refused" in error["message"]
    assert "CORS_ORIGIN" in error["message"]
    assert "access-control-allow-origin" not in response.headers


def test_a_foreign_page_cannot_read_the_env_secrets(live_server: LiveServer) -> None:
    env_file = live_server.data_dir / ".env"
    env_file.write_text(f"OPENAI_API_KEY={SECRET}\n")
    with httpx.Client(base_url=live_server.url) as http:
        fetched = http.get("/api/system/env/local", headers={"Origin": EVIL})
        assert_refused_cross_origin(fetched)
        assert SECRET not in fetched.text
        # An <img>/navigation sends no Origin on a GET, but the browser marks it cross-site.
        navigated = http.get("/api/system/env/local", headers={"Sec-Fetch-Site": "cross-site"})
        assert_refused_cross_origin(navigated)
        assert SECRET not in navigated.text
        # The server's own page (the web UI) and a non-browser client still read it.
        own = http.get("/api/system/env/local", headers={"Origin": live_server.url,
                                                         "Sec-Fetch-Site": "same-origin"})
        assert own.json()["data"]["OPENAI_API_KEY"] == SECRET
        assert http.get("/api/system/env/local").json()["data"]["OPENAI_API_KEY"] == SECRET


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", b'{"content": {"PWNED": "1"}}'),
    # A simple request: no preflight, so CORS alone never stops it.
    ("text/plain", b'{"content": {"PWNED": "1"}}'),
    ("application/x-www-form-urlencoded", b"content=PWNED"),
])
def test_a_foreign_page_cannot_write_the_env(live_server: LiveServer, content_type: str,
                                             body: bytes) -> None:
    env_file = live_server.data_dir / ".env"
    env_file.write_text("KEEP=1\n")
    with httpx.Client(base_url=live_server.url) as http:
        response = http.post("/api/system/env/local", content=body,
                             headers={"Origin": EVIL, "Content-Type": content_type})
    assert_refused_cross_origin(response)
    assert env_file.read_text() == "KEEP=1\n"


def test_a_foreign_page_cannot_stop_the_server(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as http:
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            response = http.post("/api/server/stop", content=b"x",
                                 headers={"Origin": EVIL, "Content-Type": content_type})
            assert_refused_cross_origin(response)
        # A page on another port of this machine is another origin too.
        other_port = http.post("/api/runtime/stop", content=b"x", headers={
            "Origin": f"http://127.0.0.1:{live_server.port + 1}", "Content-Type": "text/plain"})
        assert_refused_cross_origin(other_port)
        assert http.get("/api/server/ping").json()["pong"] is True
    assert live_server.proc is not None
    assert live_server.proc.poll() is None


def test_cors_headers_only_for_listed_origins(live_server_factory: Any) -> None:
    listed = "http://ui.example:5173"
    server = live_server_factory(CORS_ORIGIN=f"{listed}, https://other.example")
    with httpx.Client(base_url=server.url) as http:
        for path in ("/api/server/ping", "/api/agents", "/api/server/hello"):  # fast and Quart
            ok = http.get(path, headers={"Origin": listed})
            assert ok.headers["access-control-allow-origin"] == listed, path
            assert ok.headers["access-control-allow-credentials"] == "true"
            foreign = http.get(path, headers={"Origin": EVIL})
            assert "access-control-allow-origin" not in foreign.headers, path
        preflight = http.options("/api/agents", headers={
            "Origin": listed, "Access-Control-Request-Method": "POST"})
        assert preflight.headers["access-control-allow-origin"] == listed
        assert "POST" in preflight.headers["access-control-allow-methods"]
        refused = http.options("/api/agents", headers={
            "Origin": EVIL, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in refused.headers
        assert "access-control-allow-methods" not in refused.headers
        # A listed origin may change state; the foreign one may not.
        created = http.post("/api/agents", json={"characterJson": {"name": "Listed"}},
                            headers={"Origin": listed})
        assert created.status_code == 201, created.text
        assert_refused_cross_origin(http.post(
            "/api/agents", json={"characterJson": {"name": "Evil"}}, headers={"Origin": EVIL}))
        names = {a["name"] for a in http.get("/api/agents").json()["data"]["agents"]}
    assert names == {"Eliza", "Listed"}


def test_default_sends_no_cors_headers(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as http:
        for path in ("/api/server/ping", "/api/agents", "/api/server/hello", "/healthz"):
            response = http.get(path, headers={"Origin": EVIL})
            assert response.status_code == 200, path
            assert "access-control-allow-origin" not in response.headers, path
            assert "access-control-allow-credentials" not in response.headers, path


def test_star_allows_any_origin_without_credentials(live_server_factory: Any) -> None:
    server = live_server_factory(CORS_ORIGIN="*")
    with httpx.Client(base_url=server.url) as http:
        for path in ("/api/server/ping", "/api/server/hello"):
            response = http.get(path, headers={"Origin": EVIL})
            assert response.headers["access-control-allow-origin"] == "*", path
            assert "access-control-allow-credentials" not in response.headers, path


# -- DNS rebinding -------------------------------------------------------------------------

def test_a_rebound_host_name_is_refused(live_server: LiveServer) -> None:
    # evil.example resolving to 127.0.0.1: the page is "same-origin" with what it reaches.
    rebound = {"Host": f"evil.example:{live_server.port}",
               "Origin": f"http://evil.example:{live_server.port}"}
    requests = [("GET", "/api/server/ping"), ("GET", "/api/agents"),  # the fast path
                ("GET", "/api/system/env/local"), ("GET", "/api/messaging/sessions"),
                ("POST", "/api/server/stop"), ("GET", "/socket.io/?EIO=4&transport=polling")]
    with httpx.Client(base_url=live_server.url) as http:
        for method, path in requests:
            response = http.request(method, path, headers=rebound)
            assert response.status_code == 403, (path, response.text)
            error = response.json()["error"]
            assert error["code"] == "FORBIDDEN"
            assert "ELIZA_ALLOWED_HOSTS" in error["message"]
        for host in ("localhost", "127.0.0.1", "[::1]", "ui.localhost", "10.1.2.3"):
            own = {"Host": f"{host}:{live_server.port}"}
            assert http.get("/api/server/ping", headers=own).status_code == 200, host
            assert http.get("/api/server/hello", headers=own).status_code == 200, host
        assert http.get("/api/server/ping").json()["pong"] is True


def test_allowed_hosts_and_the_key_admit_other_names(live_server_factory: Any) -> None:
    named = live_server_factory(ELIZA_ALLOWED_HOSTS="eliza.lan, *.example.org")
    keyed = live_server_factory(ELIZA_SERVER_AUTH_TOKEN="k3y")
    with httpx.Client() as http:
        for host, status in (("eliza.lan", 200), ("a.b.example.org", 200), ("example.org", 403),
                             ("evil.example", 403)):
            for path in ("/api/server/ping", "/api/server/hello"):
                response = http.get(named.url + path, headers={"Host": host})
                assert response.status_code == status, (host, path)
        # With an API key the key admits a client: a rebound page does not have it.
        for path in ("/api/server/ping", "/api/server/hello"):
            assert http.get(keyed.url + path, headers={
                "Host": "evil.example", "X-API-KEY": "k3y"}).status_code == 200
            assert http.get(keyed.url + path,
                            headers={"Host": "evil.example"}).status_code == 401


# -- Socket.IO -------------------------------------------------------------------------------

def connect(server: LiveServer, transport: str, origin: str | None = None,
            host: str | None = None) -> socketio.Client:
    ws_options: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if origin is not None:
        ws_options["origin"] = origin  # websocket-client sends its own Origin otherwise
        headers["Origin"] = origin
    if host is not None:
        ws_options["host"] = host
        headers["Host"] = host
    client = socketio.Client(reconnection=False, websocket_extra_options=ws_options)
    client.connect(server.url, transports=[transport], headers=headers,
                   auth={"entityId": str(uuid.uuid4())}, wait_timeout=10)
    return client


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_socket_handshake_needs_the_servers_origin(live_server: LiveServer,
                                                   transport: str) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        connect(live_server, transport, origin=EVIL)
    with pytest.raises(socketio.exceptions.ConnectionError):
        connect(live_server, transport, origin=live_server.url,
                host=f"evil.example:{live_server.port}")
    client = connect(live_server, transport, origin=live_server.url)
    try:
        assert client.connected
    finally:
        client.disconnect()


def test_socket_refusal_says_why(live_server: LiveServer) -> None:
    url = live_server.url + "/socket.io/?EIO=4&transport="
    with httpx.Client() as http:
        polling = http.get(url + "polling", headers={"Origin": EVIL})
        upgrade = http.get(url + "websocket", headers={
            "Origin": EVIL, "Connection": "Upgrade", "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    for response in (polling, upgrade):
        assert_refused_cross_origin(response)
