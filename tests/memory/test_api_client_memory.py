"""The published `@elizaos/api-client` 1.7.2 memory, room, world and agent-log methods
against a live `hypercorn -k trio` server."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from conftest import run_node
from eliza import ids

from .helpers import ELIZA_ID

pytestmark = pytest.mark.node  # the published client, run by node


async def test_api_client_memory_methods(live_server: Any) -> None:
    out = await trio.to_thread.run_sync(
        lambda: run_node("api_client_memory.mjs", live_server.url, timeout=120)
    )
    assert out["agentId"] == ELIZA_ID
    room_id = ids.create_unique_uuid(ELIZA_ID, out["channelId"])
    reply, user = out["memories"]
    assert user["content"]["text"] == "I am worried about my brother"
    assert user["metadata"]["sourceId"] == out["posted"]["id"]
    assert reply["entityId"] == ELIZA_ID
    assert reply["roomId"] == room_id

    logs = out["logs"]
    assert len(logs) == 3
    assert all(log["roomId"] == room_id for log in logs)
    assert {log["type"] for log in out["logsFiltered"]} == {"run_event"}
    assert out["deleteLog"] == {"success": True}
    assert out["logsAfter"] == [log["id"] for log in logs[1:]]

    assert out["roomId"] == room_id
    assert out["room"]["id"] == room_id
    assert out["room"]["worldName"]
    assert out["roomMemories"]["memories"] == [reply]
    internal = out["internal"]["memories"]
    assert [m["id"] for m in internal] == [reply["id"], user["id"]]
    assert all("embedding" in m for m in internal)
    assert out["updated"] == {"id": user["id"], "message": "Memory updated successfully"}
    assert out["afterUpdate"]["content"] == {"text": "edited"}
    assert out["deleteMemory"] == {"message": "Memory deleted successfully"}
    assert out["afterDeleteMemory"] == [reply["id"]]
    assert out["clearRoom"] == {"success": True}
    assert out["afterClearRoom"] == []

    created = out["createdRoom"]
    assert created["name"] == "node room"
    assert created["type"] == "GROUP"
    assert created["metadata"] == {"n": 1}
    assert created["agentId"] == ELIZA_ID
    assert out["gotCreatedRoom"]["id"] == created["id"]
    assert out["missingRoom"] == {"code": "NOT_FOUND", "status": 404, "isApiError": True}

    world_ids = [w["id"] for w in out["worlds"]["worlds"]]
    assert ids.create_unique_uuid(ELIZA_ID, ids.DEFAULT_SERVER_ID) in world_ids
    added = out["addedWorld"]["world"]
    assert added["agentId"] == ELIZA_ID
    assert out["worldSettings"]["world"]["id"] == added["id"]
    assert out["worldSettings"]["world"]["metadata"]["settings"] == {"mode": "quiet"}
    assert added["id"] in out["worldsAfter"]

    (group,) = out["group"]
    assert group["type"] == "API"
    assert group["name"] == "node group"
    assert group["id"] in out["roomsWithGroup"]
    assert out["clearWorld"] == {"success": True}
    assert out["deleteWorld"] == {"success": True}
    assert group["id"] not in out["roomsAfterWorld"]
    assert created["id"] in out["roomsAfterWorld"]

    assert out["clearAll"]["deleted"] == 0  # the DM room was cleared before
    assert out["clearAll"]["message"] == "All agent memories cleared successfully"
    assert out["afterClearAll"] == []
    assert out["badAgent"] == {"code": "INVALID_ID", "status": 400, "isApiError": True}
    assert out["unknownAgent"] == {"code": "NOT_FOUND", "status": 404, "isApiError": True}
