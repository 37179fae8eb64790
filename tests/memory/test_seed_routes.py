"""The memory routes of the ElizaOS API reference: one memory created and read,
`/api/memory/agents/:agentId/*` (list, create, search, stats, insights, export, import) and
the group spaces listed, created and read."""

from __future__ import annotations

from typing import Any

from eliza import ids
from eliza.clock import now_ms
from eliza.store.memory_stats import DAY_MS, day_date
from tests.messaging.helpers import get_json, send_json

from .helpers import ELIZA_ID, USER_ID, dm_turn, error_of

AGENT = f"/api/memory/agents/{ELIZA_ID}"


async def new_agent(client: Any, name: str) -> str:
    created = await send_json(client, "post", "/api/agents",
                              {"characterJson": {"name": name, "bio": ["a test agent"]}}, 201)
    agent_id = str(created["data"]["id"])
    await send_json(client, "post", f"/api/agents/{agent_id}/start")
    return agent_id


async def new_room(client: Any, agent_id: str, name: str = "notes") -> dict[str, Any]:
    created = await send_json(client, "post", f"/api/agents/{agent_id}/rooms",
                              {"name": name, "metadata": {"topic": name}}, 201)
    room: dict[str, Any] = created["data"]
    return room


async def remember(client: Any, agent_id: str, text: str, **fields: Any) -> dict[str, Any]:
    created = await send_json(client, "post", f"/api/agents/{agent_id}/memories",
                              {"content": {"text": text}, **fields}, 201)
    memory: dict[str, Any] = created["data"]
    return memory


async def test_create_then_get_one_memory(client: Any) -> None:
    room = await new_room(client, ELIZA_ID)
    memory = await remember(client, ELIZA_ID, "The user's cat is called Tom", type="facts",
                            roomId=room["id"], entityId=USER_ID, metadata={"source": "api"})
    assert memory["type"] == "facts"
    assert memory["roomId"] == room["id"]
    assert memory["worldId"] == room["worldId"]
    assert memory["entityId"] == USER_ID
    assert memory["agentId"] == ELIZA_ID
    assert memory["metadata"] == {"source": "api"}
    assert memory["content"] == {"text": "The user's cat is called Tom"}
    for prefix in ("/api/agents", "/api/memory"):
        got = await get_json(client, f"{prefix}/{ELIZA_ID}/memories/{memory['id']}")
        assert got == {"success": True, "data": memory}
    embedded = await get_json(client, f"/api/agents/{ELIZA_ID}/memories/{memory['id']}"
                                      "?includeEmbedding=true")
    assert "embedding" in embedded["data"]
    # Listed with the agent's facts, and findable by its text at once.
    facts = await get_json(client, f"/api/agents/{ELIZA_ID}/memories?tableName=facts")
    assert [m["id"] for m in facts["data"]["memories"]] == [memory["id"]]
    # Defaults: a `messages` memory by the agent itself, outside any room.
    plain = await remember(client, ELIZA_ID, "plain")
    assert (plain["type"], plain["entityId"], plain["roomId"]) == ("messages", ELIZA_ID, None)

    missing = f"/api/agents/{ELIZA_ID}/memories/{ids.new_uuid()}"
    assert (await error_of(client, "get", missing, 404))["code"] == "NOT_FOUND"
    bad = f"/api/agents/{ELIZA_ID}/memories/nope"
    assert (await error_of(client, "get", bad, 400))["code"] == "INVALID_ID"
    unknown_agent = f"/api/agents/{ids.new_uuid()}/memories/{memory['id']}"
    assert (await error_of(client, "get", unknown_agent, 404))["code"] == "NOT_FOUND"


async def test_create_refuses_bad_input_and_writes_nothing(client: Any) -> None:
    path = f"/api/agents/{ELIZA_ID}/memories"
    room = await new_room(client, ELIZA_ID)
    taken = await remember(client, ELIZA_ID, "first", roomId=room["id"])
    for body, field in (({}, "content"), ({"content": "text"}, "content"),
                        ({"content": {}}, "content.text"),
                        ({"content": {"text": "  "}}, "content.text"),
                        ({"content": {"text": "x"}, "roomId": "nope"}, "roomId"),
                        ({"content": {"text": "x"}, "metadata": []}, "metadata"),
                        ({"content": {"text": "x"}, "createdAt": -1}, "createdAt"),
                        ({"content": {"text": "x"}, "roomId": ids.new_uuid()}, "roomId")):
        error = await error_of(client, "post", path, 400, body)
        assert error["details"]["field"] == field, (body, error)
    conflict = await error_of(client, "post", path, 409,
                              {"content": {"text": "again"}, "id": taken["id"]})
    assert conflict["code"] == "CONFLICT"
    listed = await get_json(client, f"{path}?roomId={room['id']}")
    assert [m["content"]["text"] for m in listed["data"]["memories"]] == ["first"]
    # Another agent's room is not one of Eliza's.
    other = await new_agent(client, "Other")
    foreign = await new_room(client, other)
    error = await error_of(client, "post", path, 400,
                           {"content": {"text": "x"}, "roomId": foreign["id"]})
    assert error["details"]["field"] == "roomId"
    await send_json(client, "post", f"/api/agents/{other}/stop")
    error = await error_of(client, "post", f"/api/agents/{other}/memories", 404,
                           {"content": {"text": "x"}})
    assert error["code"] == "AGENT_NOT_RUNNING"


async def test_memory_agents_list_and_create(client: Any) -> None:
    turn = await dm_turn(client)
    created = await send_json(client, "post", f"{AGENT}/memories", {
        "content": {"text": "noted"}, "roomId": turn.room_id, "createdAt": now_ms() + 5}, 201)
    listed = (await get_json(client, f"{AGENT}/memories"))["data"]["memories"]
    assert len(listed) == 3
    assert listed[0]["id"] == created["data"]["id"]  # newest first
    assert (await get_json(client, f"{AGENT}/memories?limit=1"))["data"]["memories"] == \
        listed[:1]
    older = await get_json(client, f"{AGENT}/memories?before={listed[0]['createdAt']}")
    assert [m["id"] for m in older["data"]["memories"]] == [m["id"] for m in listed[1:]]
    by_channel = await get_json(client, f"{AGENT}/memories?channelId={turn.channel_id}")
    assert by_channel["data"]["memories"] == listed
    assert (await get_json(client, f"{AGENT}/memories?type=facts"))["data"]["memories"] == []
    assert (await error_of(client, "get", f"{AGENT}/memories?limit=x", 400))["details"][
        "field"] == "limit"
    unknown = f"/api/memory/agents/{ids.new_uuid()}/memories"
    assert (await error_of(client, "get", unknown, 404))["code"] == "NOT_FOUND"


async def test_search_with_q(client: Any) -> None:
    room = await new_room(client, ELIZA_ID)
    cat = await remember(client, ELIZA_ID, "the cat sleeps on the sofa", roomId=room["id"])
    await remember(client, ELIZA_ID, "the dog barks", type="facts")
    found = await get_json(client, f"{AGENT}/memories/search?q=cat&mode=text")
    assert [m["id"] for m in found["data"]["memories"]] == [cat["id"]]
    assert found["data"]["mode"] == "text"
    assert found["data"]["memories"][0]["score"] > 0
    either = await get_json(client, f"{AGENT}/memories/search?q=cat+dog&match=any&mode=text")
    assert len(either["data"]["memories"]) == 2
    facts = await get_json(client, f"{AGENT}/memories/search?q=cat+dog&match=any&mode=text"
                                   "&type=facts")
    assert [m["content"]["text"] for m in facts["data"]["memories"]] == ["the dog barks"]
    elsewhere = await get_json(client, f"{AGENT}/memories/search?q=cat&mode=text"
                                       f"&roomId={ids.new_uuid()}")
    assert elsewhere["data"]["memories"] == []
    assert (await error_of(client, "get", f"{AGENT}/memories/search", 400))["details"][
        "field"] == "q"
    error = await error_of(client, "get", f"{AGENT}/memories/search?q=cat&mode=nope", 400)
    assert error["details"]["field"] == "mode"


async def test_stats_and_insights(client: Any) -> None:
    turn = await dm_turn(client)
    notes = await new_room(client, ELIZA_ID, "notes")
    today = now_ms()
    for text in ("one", "two", "three"):
        await remember(client, ELIZA_ID, text, type="facts", roomId=notes["id"],
                       entityId=USER_ID)
    await remember(client, ELIZA_ID, "old", type="facts", roomId=notes["id"],
                   createdAt=today - 3 * DAY_MS)
    stats = (await get_json(client, f"{AGENT}/stats?days=7"))["data"]
    assert stats["total"] == 6
    assert stats["byType"] == [{"type": "facts", "count": 4}, {"type": "messages", "count": 2}]
    assert [(r["roomId"], r["count"]) for r in stats["byRoom"]] == [
        (notes["id"], 4), (turn.room_id, 2)]
    assert stats["byRoom"][0]["name"] == "notes"
    user_entity = ids.create_unique_uuid(ELIZA_ID, USER_ID)  # how Eliza names the DM's user
    assert {(e["entityId"], e["count"]) for e in stats["byEntity"]} == {
        (USER_ID, 3), (ELIZA_ID, 2), (user_entity, 1)}
    per_day = stats["perDay"]
    assert len(per_day) == 7
    assert per_day[-1] == {"date": day_date(today // DAY_MS), "count": 5}
    assert per_day[-4] == {"date": day_date(today // DAY_MS - 3), "count": 1}
    assert sum(day["count"] for day in per_day) == 6
    assert stats["roomCount"] == 2
    top = (await get_json(client, f"{AGENT}/stats?top=1"))["data"]
    assert len(top["byRoom"]) == len(top["byEntity"]) == 1
    assert len(top["perDay"]) == 30

    insights = (await get_json(client, f"{AGENT}/insights?top=1"))["data"]
    assert insights["total"] == 6
    assert insights["firstMemoryAt"] == today - 3 * DAY_MS
    assert insights["lastMemoryAt"] >= today
    assert insights["activeDays"] == 2
    assert insights["averagePerActiveDay"] == 3
    assert insights["busiestDay"] == {"date": day_date(today // DAY_MS), "count": 5}
    assert insights["mostCommonType"] == {"type": "facts", "count": 4}
    assert (insights["last24h"], insights["last7d"]) == (5, 6)
    (room,) = insights["mostActiveRooms"]
    assert (room["roomId"], room["count"]) == (notes["id"], 4)
    (entity,) = insights["mostActiveEntities"]
    assert (entity["entityId"], entity["count"]) == (USER_ID, 3)
    error = await error_of(client, "get", f"{AGENT}/stats?days=x", 400)
    assert error["details"]["field"] == "days"


async def test_stats_of_an_agent_without_memories(client: Any) -> None:
    agent_id = await new_agent(client, "Blank")
    stats = (await get_json(client, f"/api/memory/agents/{agent_id}/stats"))["data"]
    assert (stats["total"], stats["byType"], stats["byRoom"]) == (0, [], [])
    assert all(day["count"] == 0 for day in stats["perDay"])
    insights = (await get_json(client, f"/api/memory/agents/{agent_id}/insights"))["data"]
    assert insights["firstMemoryAt"] is None
    assert insights["busiestDay"] is None
    assert insights["averagePerActiveDay"] == 0
