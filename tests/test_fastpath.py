"""The ASGI fast path (eliza/fastpath.py) answers like the Quart pipeline would."""

from typing import Any

import httpx

from conftest import LiveServer

SECURITY_HEADERS = ("x-frame-options", "x-content-type-options", "content-security-policy",
                    "referrer-policy")


def test_fast_routes_carry_the_same_headers_as_quart_routes(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as http:
        fast = http.get("/api/server/ping", headers={"Origin": "http://ui.example"})
        slow = http.get("/api/server/hello", headers={"Origin": "http://ui.example"})
    assert fast.status_code == slow.status_code == 200
    assert fast.json()["pong"] is True
    for name in (*SECURITY_HEADERS, "access-control-allow-origin", "content-type"):
        assert fast.headers.get(name) == slow.headers.get(name), name


def test_agent_listing_follows_every_change(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as http:
        def statuses() -> dict[str, Any]:
            agents = http.get("/api/agents").json()["data"]["agents"]
            return {a["name"]: a["status"] for a in agents}

        assert statuses() == {"Eliza": "active"}
        created = http.post("/api/agents", json={"characterJson": {"name": "Zed"}}).json()
        agent_id = created["data"]["id"]
        assert statuses() == {"Eliza": "active", "Zed": "inactive"}
        http.post(f"/api/agents/{agent_id}/start")
        assert statuses() == {"Eliza": "active", "Zed": "active"}
        http.patch(f"/api/agents/{agent_id}", json={"name": "Zoe"})
        assert statuses() == {"Eliza": "active", "Zoe": "active"}
        http.post(f"/api/agents/{agent_id}/stop")
        http.delete(f"/api/agents/{agent_id}")
        assert statuses() == {"Eliza": "active"}


def test_fast_routes_need_the_api_key_when_auth_is_on(live_server_factory: Any) -> None:
    server = live_server_factory(ELIZA_SERVER_AUTH_TOKEN="s3cret")
    with httpx.Client(base_url=server.url) as http:
        for path in ("/api/server/ping", "/api/agents"):
            refused = http.get(path)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "UNAUTHORIZED"
            assert http.get(path, headers={"X-API-KEY": "s3cret"}).status_code == 200
        assert http.get("/healthz").json() == {"status": "ok"}


def test_fast_routes_count_against_the_rate_limit(live_server_factory: Any) -> None:
    server = live_server_factory(ELIZA_RATE_LIMIT="on")
    with httpx.Client(base_url=server.url) as http:
        first = http.get("/api/server/ping")
        assert first.headers["ratelimit-limit"] == "1000"
        remaining = int(first.headers["ratelimit-remaining"])
        assert int(http.get("/api/agents").headers["ratelimit-remaining"]) == remaining - 1
