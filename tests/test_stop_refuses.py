"""`POST /api/server/stop` on a real server: from its answer on, every new request (on a
new connection or a kept-alive one, an Engine.IO handshake, a websocket upgrade) is refused
at once with 503 SERVICE_UNAVAILABLE and `Connection: close`, while a request already in
flight (a message whose body is still arriving) completes."""

from __future__ import annotations

import json
import socket
import time
import uuid

import httpx

from conftest import LiveServer

USER = str(uuid.uuid4())
SERVER_ID = "00000000-0000-0000-0000-000000000000"
UPGRADE = ("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")


def connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def head(method: str, path: str, server: LiveServer, length: int | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    if length is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the next response on `sock` (a 101 has no body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    raw_head, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip()
               for name, value in (line.split(":", 1) for line in header_lines)}
    status = int(status_line.split()[1])
    if status != 101:
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            assert chunk, "closed in the middle of the body"
            body += chunk
    return status, headers, body


def ask(sock: socket.socket, request: bytes) -> tuple[int, dict[str, str], bytes]:
    sock.sendall(request)
    return answer(sock)


def new_requests(server: LiveServer) -> dict[str, bytes]:
    host = f"127.0.0.1:{server.port}"
    return {
        "agents": head("GET", "/api/agents", server),
        "ping (fast path)": head("GET", "/api/server/ping", server),
        "engine.io handshake": head("GET", "/socket.io/?EIO=4&transport=polling", server),
        "websocket upgrade": UPGRADE.format(host=host).encode(),
    }


def test_stop_refuses_new_requests_and_drains_those_in_flight(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        channel = http.post("/api/messaging/channels", json={
            "name": "draining", "message_server_id": SERVER_ID, "type": "GROUP",
            "participantCentralUserIds": [USER]}).json()["data"]["id"]
    # Before the stop, every kind of request is served (so the refusals below are the stop's).
    for name, request in new_requests(live_server).items():
        with connect(live_server) as sock:
            assert ask(sock, request)[0] in (200, 101), name

    body = json.dumps({"author_id": USER, "content": "sent while the server stops",
                       "message_server_id": SERVER_ID}).encode()
    with connect(live_server) as in_flight, connect(live_server) as kept_alive, \
            connect(live_server) as stopper:
        assert ask(kept_alive, head("GET", "/api/server/ping", live_server))[0] == 200
        in_flight.sendall(head("POST", f"/api/messaging/channels/{channel}/messages",
                               live_server, len(body)) + body[:10])
        time.sleep(0.3)  # its handler is now waiting for the rest of the body

        stop = ask(stopper, head("POST", "/api/server/stop", live_server, 0))
        assert stop[0] == 200, stop
        stopped_at = time.monotonic()

        refusals = {"kept-alive ping": ask(kept_alive, head("GET", "/api/server/ping",
                                                            live_server))}
        for name, request in new_requests(live_server).items():
            with connect(live_server) as sock:
                refusals[name] = ask(sock, request)
        refused_within = time.monotonic() - stopped_at

        in_flight.sendall(body[10:])
        status, _, stored = answer(in_flight)

    for name, (status_code, headers, refused) in refusals.items():
        assert status_code == 503, (name, status_code, refused)
        assert headers["connection"] == "close", name
        assert json.loads(refused) == {"success": False, "error": {
            "code": "SERVICE_UNAVAILABLE",
            "message": "Server is stopping: it accepts no new requests"}}, name
    assert refused_within < 0.5  # at once: the process itself goes away only later
    assert status == 201, stored
    assert json.loads(stored)["data"]["content"] == "sent while the server stops"
    assert live_server.proc is not None
    assert live_server.proc.wait(timeout=20) == 0
