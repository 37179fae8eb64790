"""A request answered before its body was read (an early 404 or 401) must not stall the next
request on the same kept-alive connection."""

import time
import uuid

import httpx
import pytest

from conftest import LiveServer


def test_early_error_then_next_request_on_the_same_connection(live_server: LiveServer) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(base_url=live_server.url, limits=limits, timeout=5) as http:
        agent = http.post("/api/agents", json={"characterJson": {"name": "Keeper"}})
        agent_id = agent.json()["data"]["id"]
        for _ in range(3):
            # 404 AGENT_NOT_RUNNING is raised before the handler reads the JSON body.
            refused = http.post(f"/api/agents/{agent_id}/stop", json={"reason": "x" * 2000})
            assert refused.status_code == 404
            started = time.monotonic()
            assert http.post(f"/api/agents/{agent_id}/start", json={}).status_code == 200
            assert time.monotonic() - started < 2
            assert http.post(f"/api/agents/{agent_id}/stop", json={}).status_code == 200
        unknown = http.post(f"/api/agents/{uuid.uuid4()}/start", json={"x": "y" * 5000})
        assert unknown.status_code == 404
        assert http.get("/api/server/hello").status_code == 200


@pytest.mark.sqlite_only  # (nothing here touches the store)
def test_a_body_sent_with_any_method_is_drained_before_the_answer(
        live_server: LiveServer) -> None:
    """A preflight and an unknown method answer before their handler could read a body: a
    body larger than the socket buffers must still be taken in (or the connection closed),
    or the client, still sending it, never reads the answer."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    body = b'{"x": "' + b"a" * 1_000_000 + b'"}'
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=live_server.url, limits=limits, timeout=10) as http:
        for method, path, status in (("OPTIONS", "/api/agents", 204),
                                     ("QUERY", "/api/agents", 405),
                                     ("GET", "/api/server/hello", 200),
                                     ("DELETE", "/api/server/hello", 405)):
            answer = http.request(method, path, content=body, headers=headers)
            assert answer.status_code == status, (method, path, answer.text[:200])
            assert http.get("/api/server/ping").status_code == 200
