"""A request answered before its body was read (an early 404 or 401) must not stall the next
request on the same kept-alive connection."""

import time
import uuid

import httpx

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
