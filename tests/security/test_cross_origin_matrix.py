"""Every state-changing route refuses a browser request from a foreign page (auth off), and
is not refused for that reason when the request comes from the server's own origin.

The routes come from the app's url map (tests/security/routes.py), aliases included. Run
in-process: the check is the app's own before-request hook, the same under hypercorn
(tests/security/test_cross_origin.py replays the attacks against a live server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eliza.server import AgentServer

from .routes import STATE_CHANGING, http_routes

# A refused request changes nothing, counted by SQLite's change counter; the refusal comes
# before any store access, so one store proves it.
pytestmark = pytest.mark.sqlite_only

OWN = "http://localhost"  # the Quart test client's Host is `localhost`
# A foreign page's ways to send without a preflight, or from a near neighbour.
FOREIGN: list[tuple[dict[str, str], bytes, str]] = [
    ({"Origin": "https://evil.example"}, b"x", "text/plain"),
    ({"Origin": "null"}, b"a=1", "application/x-www-form-urlencoded"),  # sandboxed iframe
    ({"Origin": "http://localhost:5173"}, b"{}", "application/json"),  # another port
    ({"Sec-Fetch-Site": "cross-site"}, b"a=1", "application/x-www-form-urlencoded"),
    ({"Sec-Fetch-Site": "same-site"}, b"x", "text/plain"),
]


def snapshot(server: AgentServer, env_file: Path) -> tuple[int, str, int]:
    """What a write would change: rows written by the store, the `.env`, the agents."""
    changes: int = server.store.writer.db.conn.total_changes  # type: ignore[attr-defined]
    env = env_file.read_text() if env_file.exists() else ""
    return changes, env, server.agents.version


@pytest.fixture
def stops(agent_server: AgentServer) -> list[int]:
    calls: list[int] = []
    agent_server.shutdown_callback = lambda: calls.append(1)
    return calls


async def test_foreign_pages_are_refused_on_every_state_changing_route(
    app: Any, client: Any, agent_server: AgentServer, stops: list[int]
) -> None:
    routes = http_routes(app.app, STATE_CHANGING)
    paths = {path for _, path in routes}
    # The aliases are there: each is checked on its own.
    assert any(p.startswith("/api/runtime/") for p in paths)
    assert any(p.startswith("/api/messaging/central-channels/") for p in paths)
    assert "/socket.io/" in paths
    env_file = agent_server.settings.env_file
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text("KEEP=1\n")
    before = snapshot(agent_server, env_file)
    for method, path in routes:
        for headers, body, content_type in FOREIGN:
            response = await client.open(path, method=method, data=body,
                                         headers={**headers, "Content-Type": content_type})
            assert response.status_code == 403, (method, path, headers)
            error = (await response.get_json())["error"]
            assert error["code"] == "FORBIDDEN"
            assert error["message"].startswith("Cross-origin request refused"), error
            assert "access-control-allow-origin" not in response.headers
    assert snapshot(agent_server, env_file) == before


async def test_the_servers_own_origin_is_not_refused(
    app: Any, client: Any, agent_server: AgentServer, stops: list[int]
) -> None:
    for method, path in http_routes(app.app, STATE_CHANGING):
        response = await client.open(path, method=method, json={},
                                     headers={"Origin": OWN, "Sec-Fetch-Site": "same-origin"})
        if response.status_code == 403:
            message = (await response.get_json())["error"]["message"]
            assert "Cross-origin" not in message, (method, path, message)
    # The snapshot the refusals are compared with does see a write from the own origin.
    env_file = agent_server.settings.env_file
    before = snapshot(agent_server, env_file)
    created = await client.post("/api/agents", json={"characterJson": {"name": "Own"}},
                                headers={"Origin": OWN})
    assert created.status_code == 201
    assert snapshot(agent_server, env_file)[0] > before[0]


@pytest.mark.parametrize(("host", "origin", "own"), [
    ("localhost:3000", "http://localhost:3000", True),
    ("[::1]:3000", "http://[::1]:3000", True),
    ("10.0.0.5", "https://10.0.0.5", True),  # behind a TLS proxy: default ports match
    ("10.0.0.5:8443", "HTTPS://10.0.0.5:8443/", True),
    ("localhost:3000", "http://localhost:3001", False),
    ("localhost:3000", "http://127.0.0.1:3000", False),  # another origin for the browser
    ("localhost:3000", "http://localhost:3000/path", False),  # not an origin at all
])
async def test_own_origin_means_the_requests_host_and_port(
    client: Any, host: str, origin: str, own: bool
) -> None:
    response = await client.post("/api/agents", json={},
                                 headers={"Host": host, "Origin": origin})
    body = await response.get_json()
    if own:
        assert response.status_code == 400, body  # past the check, on to the body's check
    else:
        assert response.status_code == 403, body
        assert body["error"]["message"].startswith("Cross-origin request refused")
