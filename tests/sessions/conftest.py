"""Session test helpers: the default agent's id, a user, a session maker and a movable clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eliza import ids
from eliza.clock import now_ms
from eliza.server import AgentServer
from tests.clocks import Clock

ELIZA_ID = ids.string_to_uuid("Eliza")
USER_ID = "5d8c9a1e-1b2c-4d3e-8f90-123456789abc"


@pytest.fixture
def clock(agent_server: AgentServer) -> Clock:
    clock = Clock(now_ms())
    agent_server.sessions.clock = clock
    return clock


async def create_session(client: Any, **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/messaging/sessions",
                                 json={"agentId": ELIZA_ID, "userId": USER_ID, **extra})
    assert response.status_code == 201, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """`event:`/`data:` blocks into (event, decoded JSON) pairs."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events
