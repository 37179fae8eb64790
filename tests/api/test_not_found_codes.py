"""An unknown agent on the agents routes is 404 `NOT_FOUND` "Agent not found", as the
original answers it (clients compare `ApiError.code`); the sessions API and the plugin
routes keep `AGENT_NOT_FOUND`."""

from __future__ import annotations

from typing import Any

import pytest

from eliza import ids
from tests.api.test_errors import error_of

UNKNOWN = "00000000-0000-4000-8000-00000000beef"

AGENT_ROUTES = [
    ("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/start"), ("POST", "/stop"),
    ("GET", "/logs"), ("DELETE", f"/logs/{ids.new_uuid()}"), ("GET", "/runs"),
    ("GET", f"/runs/{ids.new_uuid()}"), ("GET", "/panels"), ("POST", "/worlds"),
    ("PATCH", f"/worlds/{ids.new_uuid()}"), ("GET", "/memories"), ("DELETE", "/memories"),
    ("PATCH", f"/memories/{ids.new_uuid()}"), ("DELETE", f"/memories/{ids.new_uuid()}"),
    ("POST", "/memories/search"), ("GET", "/rooms"), ("POST", "/rooms"),
    ("GET", f"/rooms/{ids.new_uuid()}"), ("GET", f"/rooms/{ids.new_uuid()}/memories"),
    ("GET", f"/memories/{ids.new_uuid()}"), ("POST", "/memories"), ("GET", "/logs/stream"),
]


@pytest.mark.parametrize(("method", "suffix"), AGENT_ROUTES)
async def test_unknown_agent_on_an_agents_route_is_not_found(client: Any, method: str,
                                                            suffix: str) -> None:
    response = await client.open(f"/api/agents/{UNKNOWN}{suffix}", method=method,
                                 json={"name": "x", "query": "x", "content": {"text": "x"}})
    assert await error_of(response, 404) == {"code": "NOT_FOUND", "message": "Agent not found"}


@pytest.mark.parametrize("path", [
    f"/api/memory/{UNKNOWN}/memories", f"/api/memory/agents/{UNKNOWN}/memories",
    f"/api/memory/agents/{UNKNOWN}/stats", f"/api/memory/agents/{UNKNOWN}/export",
])
async def test_the_memory_routes_say_not_found_too(client: Any, path: str) -> None:
    response = await client.get(path)
    assert await error_of(response, 404) == {"code": "NOT_FOUND", "message": "Agent not found"}


async def test_sessions_and_plugin_routes_keep_agent_not_found(client: Any) -> None:
    session = await client.post("/api/messaging/sessions",
                                json={"agentId": UNKNOWN, "userId": ids.new_uuid()})
    assert (await error_of(session, 404))["code"] == "AGENT_NOT_FOUND"
    plugin = await client.get(f"/api/agents/{UNKNOWN}/plugins/anything/route")
    assert (await error_of(plugin, 404))["code"] == "AGENT_NOT_FOUND"
