"""`/api/memory/:agentId/...` and its `/api/agents/:agentId/...` twin, through the HTTP
stack, on the memories Eliza really wrote while answering a DM."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eliza import ids
from tests.messaging.helpers import get_json, send_json

from .helpers import ELIZA_ID, USER_ID, dm_turn, error_of

MEMORY_KEYS = {"id", "type", "createdAt", "content", "entityId", "agentId", "roomId", "unique",
               "metadata"}


async def test_agent_memories_filters_and_both_prefixes(client: Any) -> None:
    turn = await dm_turn(client)
    for prefix in ("/api/memory", "/api/agents"):
        body = await get_json(client, f"{prefix}/{ELIZA_ID}/memories")
        assert body["success"] is True
        reply, user = body["data"]["memories"]  # newest first
        assert set(user) == MEMORY_KEYS
        assert user["id"] == ids.create_unique_uuid(ELIZA_ID, f"{turn.message_id}-{ELIZA_ID}")
        assert user["entityId"] == ids.create_unique_uuid(ELIZA_ID, USER_ID)
        assert user["content"]["text"] == "I feel sad about my mother"
        assert user["metadata"]["sourceId"] == turn.message_id
        assert isinstance(user["createdAt"], int)
        assert reply["entityId"] == ELIZA_ID
        assert reply["roomId"] == turn.room_id
        assert reply["createdAt"] >= user["createdAt"]
    by_channel = await get_json(client, f"/api/memory/{ELIZA_ID}/memories"
                                        f"?channelId={turn.channel_id}")
    by_room = await get_json(client, f"/api/memory/{ELIZA_ID}/memories?roomId={turn.room_id}")
    assert by_channel["data"] == by_room["data"] == body["data"]
    other = await get_json(client, f"/api/memory/{ELIZA_ID}/memories?roomId={ids.new_uuid()}")
    assert other["data"] == {"memories": []}
    docs = await get_json(client, f"/api/memory/{ELIZA_ID}/memories?tableName=documents")
    assert docs["data"] == {"memories": []}
    embedded = await get_json(client, f"/api/memory/{ELIZA_ID}/memories?includeEmbedding=true")
    assert all("embedding" in m for m in embedded["data"]["memories"])
    assert all("embedding" not in m for m in body["data"]["memories"])
    for query, code in (("channelId=nope", "INVALID_ID"), ("roomId=nope", "INVALID_ID")):
        error = await error_of(client, "get", f"/api/memory/{ELIZA_ID}/memories?{query}", 400)
        assert error["code"] == code


async def test_room_memories_limit_before_and_embedding(client: Any) -> None:
    turn = await dm_turn(client)
    for prefix in ("/api/memory", "/api/agents"):
        path = f"{prefix}/{ELIZA_ID}/rooms/{turn.room_id}/memories"
        both = (await get_json(client, path))["data"]["memories"]
        assert [m["content"]["text"] for m in both][1] == "I feel sad about my mother"
        newest = (await get_json(client, path + "?limit=1"))["data"]["memories"]
        assert newest == both[:1]
        reply_at = both[0]["createdAt"]
        if reply_at > both[1]["createdAt"]:
            older = (await get_json(client, f"{path}?before={reply_at}"))["data"]["memories"]
            assert older == both[1:]
        iso = datetime.fromtimestamp(both[1]["createdAt"] / 1000, UTC).isoformat().replace(
            "+00:00", "Z")
        assert (await get_json(client, f"{path}?before={iso}"))["data"]["memories"] == []
        embedded = (await get_json(client, path + "?includeEmbedding=true"))["data"]
        assert all("embedding" in m for m in embedded["memories"])
    error = await error_of(client, "get", f"/api/memory/{ELIZA_ID}/rooms/bad/memories", 400)
    assert error["code"] == "INVALID_ID"


async def test_patch_and_delete_one_memory(client: Any) -> None:
    turn = await dm_turn(client)
    memory_id = ids.create_unique_uuid(ELIZA_ID, f"{turn.message_id}-{ELIZA_ID}")
    path = f"/api/memory/{ELIZA_ID}/memories/{memory_id}"
    answer = await send_json(client, "patch", path, {
        "id": ids.new_uuid(), "content": {"text": "edited"}, "metadata": {"note": "x"},
        "roomId": "not-a-uuid"}, 200)
    assert answer == {"success": True, "data": {"id": memory_id,
                                                 "message": "Memory updated successfully"}}
    mems = (await get_json(client, f"/api/agents/{ELIZA_ID}/memories"))["data"]["memories"]
    (edited,) = [m for m in mems if m["id"] == memory_id]
    assert edited["content"] == {"text": "edited"}
    assert edited["metadata"]["note"] == "x"
    assert edited["metadata"]["sourceId"]
    assert edited["roomId"] == turn.room_id
    error = await error_of(client, "patch", path, 400, {"metadata": "no"})
    assert error["code"] == "BAD_REQUEST"
    missing = f"/api/memory/{ELIZA_ID}/memories/{ids.new_uuid()}"
    assert (await error_of(client, "patch", missing, 404, {"content": {}}))["code"] \
        == "NOT_FOUND"
    assert (await error_of(client, "patch", f"/api/memory/{ELIZA_ID}/memories/x", 400,
                           {}))["code"] == "INVALID_ID"

    deleted = await send_json(client, "delete", f"/api/agents/{ELIZA_ID}/memories/{memory_id}")
    assert deleted == {"success": True, "data": {"message": "Memory deleted successfully"}}
    assert (await error_of(client, "delete", path, 404))["code"] == "NOT_FOUND"
    left = (await get_json(client, f"/api/memory/{ELIZA_ID}/memories"))["data"]["memories"]
    assert [m["id"] for m in left] == [mems[0]["id"]]


async def test_clear_room_then_all_memories(client: Any) -> None:
    first = await dm_turn(client)
    channel = f"/api/memory/{ELIZA_ID}/memories/all/{first.room_id}"
    response = await client.delete(channel)
    assert response.status_code == 204
    assert await response.get_data() == b""
    mems = await get_json(client, f"/api/memory/{ELIZA_ID}/memories?roomId={first.room_id}")
    assert mems["data"]["memories"] == []
    assert (await error_of(client, "delete", f"/api/memory/{ELIZA_ID}/memories/all/x",
                           400))["code"] == "INVALID_ID"
    await dm_turn(client, "my father never listens")  # a second DM: two memories
    cleared = await send_json(client, "delete", f"/api/agents/{ELIZA_ID}/memories")
    assert cleared == {"success": True, "data": {
        "deleted": 2, "message": "All agent memories cleared successfully"}}
    assert (await get_json(client, f"/api/memory/{ELIZA_ID}/memories"))["data"] \
        == {"memories": []}


async def test_rooms_create_list_get(client: Any) -> None:
    turn = await dm_turn(client)
    for prefix in ("/api/memory", "/api/agents"):
        created = await send_json(client, "post", f"{prefix}/{ELIZA_ID}/rooms", {
            "name": f"notes {prefix}", "metadata": {"k": 1}}, 201)
        room = created["data"]
        assert room["name"] == f"notes {prefix}"
        assert room["agentId"] == ELIZA_ID
        assert room["type"] == "DM"
        assert room["source"] == "client"
        assert room["metadata"] == {"k": 1}
        assert isinstance(room["createdAt"], int)
        assert room["worldId"] == ids.create_unique_uuid(ELIZA_ID, ids.DEFAULT_SERVER_ID)
        got = await get_json(client, f"{prefix}/{ELIZA_ID}/rooms/{room['id']}")
        assert got["data"]["id"] == room["id"]
        assert got["data"]["worldName"]
    listed = (await get_json(client, f"/api/memory/{ELIZA_ID}/rooms"))["data"]["rooms"]
    dm = next(r for r in listed if r["id"] == turn.room_id)
    assert dm["channelId"] == turn.channel_id
    assert dm["type"] == "DM"
    assert {r["name"] for r in listed} >= {"notes /api/memory", "notes /api/agents"}
    dm_room = await get_json(client, f"/api/agents/{ELIZA_ID}/rooms/{turn.room_id}")
    assert dm_room["data"]["serverId"] == ids.DEFAULT_SERVER_ID
    assert (await error_of(client, "post", f"/api/memory/{ELIZA_ID}/rooms", 400,
                           {"type": "DM"}))["code"] == "BAD_REQUEST"
    assert (await error_of(client, "get", f"/api/memory/{ELIZA_ID}/rooms/{ids.new_uuid()}",
                           404))["code"] == "NOT_FOUND"
    assert (await error_of(client, "get", f"/api/memory/{ELIZA_ID}/rooms/nope",
                           400))["code"] == "INVALID_ID"


async def test_agent_errors_on_every_agent_route(client: Any) -> None:
    routes = [("get", "memories"), ("get", f"rooms/{ids.new_uuid()}/memories"),
              ("patch", f"memories/{ids.new_uuid()}"), ("delete", "memories"),
              ("delete", f"memories/all/{ids.new_uuid()}"),
              ("delete", f"memories/{ids.new_uuid()}"), ("post", "rooms"), ("get", "rooms"),
              ("get", f"rooms/{ids.new_uuid()}")]
    for method, tail in routes:
        for prefix in ("/api/memory", "/api/agents"):
            bad = await error_of(client, method, f"{prefix}/not-a-uuid/{tail}", 400, {})
            assert bad["code"] == "INVALID_ID"
            unknown = await error_of(client, method, f"{prefix}/{ids.new_uuid()}/{tail}", 404,
                                     {"name": "x"})
            assert unknown["code"] == "NOT_FOUND"
    await send_json(client, "post", f"/api/agents/{ELIZA_ID}/stop")
    for method, tail in routes:
        stopped = await error_of(client, method, f"/api/memory/{ELIZA_ID}/{tail}", 404,
                                 {"name": "x"})
        assert stopped["code"] == "AGENT_NOT_RUNNING"
