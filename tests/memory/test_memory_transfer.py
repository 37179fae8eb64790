"""`GET /api/memory/agents/:agentId/export` and `POST .../import`: the eliza-memories
document, round trips between agents, parts within a byte budget, refused imports."""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio

from eliza import ids
from eliza.testing.live import LiveServer
from tests.messaging.helpers import get_json, send_json

from .helpers import ELIZA_ID, USER_ID, dm_turn, error_of
from .test_seed_routes import new_agent, new_room, remember

ROOM_FIELDS = ("name", "source", "type", "serverId", "channelId", "metadata", "createdAt")


def comparable(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What an import must keep of each memory, its room described by value, not by id."""
    rooms = {room["id"]: room for room in document["rooms"]}
    out = []
    for memory in document["memories"]:
        room = rooms.get(memory["roomId"])
        out.append((memory["type"], memory["createdAt"], json.dumps(memory["content"]),
                    memory["entityId"], json.dumps(memory["metadata"]), memory["unique"],
                    None if room is None else json.dumps([room[k] for k in ROOM_FIELDS])))
    return out


def entity_names(document: dict[str, Any]) -> dict[str, list[str]]:
    return {entity["id"]: entity["names"] for entity in document["entities"]}


async def export_of(client: Any, agent_id: str, query: str = "") -> dict[str, Any]:
    answer = await get_json(client, f"/api/memory/agents/{agent_id}/export{query}")
    assert answer["success"] is True
    document: dict[str, Any] = answer["data"]
    return document


async def test_export_then_import_into_another_agent(client: Any) -> None:
    await dm_turn(client)
    room = await new_room(client, ELIZA_ID, "notes")
    await remember(client, ELIZA_ID, "the cat is Tom", type="facts", roomId=room["id"],
                   entityId=USER_ID, metadata={"confidence": 0.9})
    await remember(client, ELIZA_ID, "outside any room", type="notes")
    exported = await export_of(client, ELIZA_ID)
    assert (exported["format"], exported["version"], exported["agentId"]) == (
        "eliza-memories", 1, ELIZA_ID)
    assert (exported["truncated"], exported["next"]) == (False, None)
    assert len(exported["memories"]) == 4
    times = [m["createdAt"] for m in exported["memories"]]
    assert times == sorted(times)  # oldest first
    assert room["id"] in {r["id"] for r in exported["rooms"]}
    assert {w["id"] for w in exported["worlds"]} >= {room["worldId"]}

    other = await new_agent(client, "Copy")
    path = f"/api/memory/agents/{other}/import"
    # The answer of the export, envelope and all, is an import's body.
    done = await send_json(client, "post", path, {"success": True, "data": exported})
    assert done["data"]["imported"] == 4
    assert done["data"]["skipped"] == 0
    assert done["data"]["ids"] == "derived"
    assert done["data"]["rooms"] == len(exported["rooms"])
    again = await send_json(client, "post", path, exported)  # the bare document too
    assert (again["data"]["imported"], again["data"]["skipped"]) == (0, 4)
    copied = await export_of(client, other)
    assert comparable(copied) == comparable(exported)
    assert entity_names(copied) == entity_names(exported)
    assert [m["id"] for m in copied["memories"]] == [
        ids.create_unique_uuid(other, m["id"]) for m in exported["memories"]]
    # The copies are the target's own: listed, found, counted.
    facts = await get_json(client, f"/api/agents/{other}/memories?tableName=facts")
    (fact,) = facts["data"]["memories"]
    assert fact["roomId"] == ids.create_unique_uuid(other, room["id"])
    rooms = (await get_json(client, f"/api/agents/{other}/rooms"))["data"]["rooms"]
    assert fact["roomId"] in {r["id"] for r in rooms}
    found = await get_json(client, f"/api/memory/agents/{other}/memories/search?q=Tom&mode=text")
    assert [m["id"] for m in found["data"]["memories"]] == [fact["id"]]
    stats = (await get_json(client, f"/api/memory/agents/{other}/stats"))["data"]
    assert stats["total"] == 4
    # Into the agent it came from: every id kept, nothing added.
    home = await send_json(client, "post", f"/api/memory/agents/{ELIZA_ID}/import", exported)
    assert (home["data"]["imported"], home["data"]["skipped"], home["data"]["ids"]) == (
        0, 4, "kept")
    assert len((await export_of(client, ELIZA_ID))["memories"]) == 4


async def test_export_in_parts_within_the_byte_budget(client: Any) -> None:
    room = await new_room(client, ELIZA_ID)
    for index in range(8):
        await remember(client, ELIZA_ID, f"memory {index} " + "x" * 5000, roomId=room["id"],
                       createdAt=1_700_000_000_000 + index)
    whole = await export_of(client, ELIZA_ID)
    assert len(whole["memories"]) == 8
    seen: list[str] = []
    query = "?maxBytes=16384"
    parts = 0
    while True:
        response = await client.get(f"/api/memory/agents/{ELIZA_ID}/export{query}")
        raw = await response.get_data()
        assert response.status_code == 200
        assert len(raw) <= 16384
        part = json.loads(raw)["data"]
        parts += 1
        assert part["memories"], "every part moves the export on"
        seen += [m["id"] for m in part["memories"]]
        if not part["truncated"]:
            assert part["next"] is None
            break
        query = f"?maxBytes=16384&after={part['next']}"
    assert parts >= 3
    assert seen == [m["id"] for m in whole["memories"]]
    error = await error_of(client, "get", f"/api/memory/agents/{ELIZA_ID}/export?after=x", 400)
    assert error["details"]["field"] == "after"


async def test_refused_imports_write_nothing(client: Any) -> None:
    room = await new_room(client, ELIZA_ID)
    await remember(client, ELIZA_ID, "kept", roomId=room["id"])
    exported = await export_of(client, ELIZA_ID)
    other = await new_agent(client, "Target")
    path = f"/api/memory/agents/{other}/import"
    orphan = {**exported["memories"][0], "roomId": ids.new_uuid()}
    tiny = {"id": ids.new_uuid(), "type": "m", "createdAt": 0, "content": {}}
    for body, status, field in (
        ({**exported, "format": "other"}, 400, "format"),
        ({**exported, "version": 2}, 400, "version"),
        ({**exported, "agentId": "nope"}, 400, "agentId"),
        ({k: v for k, v in exported.items() if k != "memories"}, 400, "memories"),
        ({**exported, "memories": [*exported["memories"], {"id": ids.new_uuid()}]}, 400,
         "memories[1].type"),
        ({**exported, "memories": [*exported["memories"], orphan]}, 400, "memories[1].roomId"),
        ({**exported, "memories": [tiny] * 10_001}, 413, "memories"),
    ):
        error = await error_of(client, "post", path, status, body)
        assert error["details"]["field"] == field, (field, error)
    huge = {**exported, "memories": [{**exported["memories"][0],
                                      "content": {"text": "x" * (3 * 1024 * 1024)}}]}
    assert (await error_of(client, "post", path, 413, huge))["code"] == "PAYLOAD_TOO_LARGE"
    assert (await export_of(client, other))["memories"] == []
    assert (await get_json(client, f"/api/agents/{other}/rooms"))["data"]["rooms"] == []
    await send_json(client, "post", f"/api/agents/{other}/stop")
    assert (await error_of(client, "post", path, 404, exported))["code"] == "AGENT_NOT_RUNNING"
    unknown = f"/api/memory/agents/{ids.new_uuid()}/export"
    assert (await error_of(client, "get", unknown, 404))["code"] == "NOT_FOUND"


async def test_round_trip_through_a_live_server(live_server: LiveServer) -> None:
    source = await trio.to_thread.run_sync(live_server.start_agent)
    target = await trio.to_thread.run_sync(live_server.start_agent)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        room = (await http.post(f"/api/agents/{source}/rooms", json={"name": "desk"})).json()
        for index in range(30):
            created = await http.post(f"/api/memory/agents/{source}/memories", json={
                "content": {"text": f"fact {index} " + "y" * 2000}, "type": "facts",
                "roomId": room["data"]["id"], "entityId": USER_ID,
                "metadata": {"index": index}})
            assert created.status_code == 201, created.text
        parts: list[dict[str, Any]] = []
        query = "?maxBytes=20000"
        while True:  # the export in parts, each imported as it comes
            part = (await http.get(f"/api/memory/agents/{source}/export{query}")).json()["data"]
            parts.append(part)
            for _ in range(2):  # importing a part twice adds it once
                done = await http.post(f"/api/memory/agents/{target}/import", json=part)
                assert done.status_code == 200, done.text
            if part["next"] is None:
                break
            query = f"?maxBytes=20000&after={part['next']}"
        assert len(parts) > 1
        whole = (await http.get(f"/api/memory/agents/{source}/export")).json()["data"]
        copied = (await http.get(f"/api/memory/agents/{target}/export")).json()["data"]
    assert sum(len(part["memories"]) for part in parts) == 30
    assert len(copied["memories"]) == 30
    assert comparable(copied) == comparable(whole)
