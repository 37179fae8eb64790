"""`GET|POST /api/memory/groups` and `GET /api/memory/groups/:groupId/memories`: group memory
spaces (one per message server) listed, created and read across agents."""

from __future__ import annotations

from typing import Any

from eliza import ids
from tests.messaging.helpers import get_json, send_json

from .helpers import DEFAULT_SERVER, ELIZA_ID, dm_turn, error_of
from .test_seed_routes import new_agent, remember


async def groups_of(client: Any) -> dict[str, dict[str, Any]]:
    listed = await get_json(client, "/api/memory/groups")
    return {group["id"]: group for group in listed["data"]["groups"]}


async def test_create_list_and_read_a_group(client: Any) -> None:
    other = await new_agent(client, "Teammate")
    created = await send_json(client, "post", "/api/memory/groups", {
        "name": "team", "agentIds": [ELIZA_ID, other], "metadata": {"purpose": "test"}}, 201)
    group = created["data"]
    assert group["name"] == "team"
    group_id = group["id"]
    assert {room["id"] for room in group["rooms"]} == {
        ids.create_unique_uuid(ELIZA_ID, group_id), ids.create_unique_uuid(other, group_id)}
    listed = (await groups_of(client))[group_id]
    assert listed["name"] == "team"
    assert sorted(listed["agentIds"]) == sorted([ELIZA_ID, other])
    assert (listed["roomCount"], listed["memoryCount"]) == (2, 0)
    assert (await get_json(client, f"/api/memory/groups/{group_id}/memories"))["data"] == {
        "groupId": group_id, "memories": []}

    eliza_room, other_room = (ids.create_unique_uuid(a, group_id) for a in (ELIZA_ID, other))
    first = await remember(client, ELIZA_ID, "plan the launch", roomId=eliza_room,
                           createdAt=1_700_000_000_000)
    second = await remember(client, other, "book the venue", roomId=other_room, type="facts",
                            createdAt=1_700_000_000_001)
    memories = (await get_json(client, f"/api/memory/groups/{group_id}/memories"))["data"][
        "memories"]
    assert [(m["id"], m["agentId"]) for m in memories] == [
        (second["id"], other), (first["id"], ELIZA_ID)]  # every agent's, newest first
    assert memories[0]["worldId"] == second["worldId"]
    path = f"/api/memory/groups/{group_id}/memories"
    assert [m["id"] for m in (await get_json(client, f"{path}?limit=1"))["data"][
        "memories"]] == [second["id"]]
    assert [m["id"] for m in (await get_json(client, f"{path}?before=1700000000001"))[
        "data"]["memories"]] == [first["id"]]
    assert [m["id"] for m in (await get_json(client, f"{path}?type=facts"))["data"][
        "memories"]] == [second["id"]]
    assert (await groups_of(client))[group_id]["memoryCount"] == 2
    # Read from the store: a stopped agent's memories stay in its group.
    await send_json(client, "post", f"/api/agents/{other}/stop")
    assert len((await get_json(client, path))["data"]["memories"]) == 2


async def test_create_with_given_id_and_partial_failure(client: Any) -> None:
    group_id = ids.new_uuid()
    stranger = ids.new_uuid()
    partial = await send_json(client, "post", "/api/memory/groups", {
        "groupId": group_id, "agentIds": [ELIZA_ID, stranger]}, 207)
    assert partial["success"] is False
    assert partial["data"]["id"] == group_id
    assert [room["id"] for room in partial["data"]["rooms"]] == [
        ids.create_unique_uuid(ELIZA_ID, group_id)]
    assert [e["agentId"] for e in partial["errors"]] == [stranger]
    failed = await send_json(client, "post", "/api/memory/groups", {"agentIds": [stranger]},
                             404)
    assert failed["error"]["code"] == "CREATE_ERROR"
    # Without agentIds: every running agent.
    everyone = await send_json(client, "post", "/api/memory/groups", {"name": "all"}, 201)
    assert [r["agentId"] for r in everyone["data"]["rooms"]] == [ELIZA_ID]
    for body, field in (({"groupId": "nope"}, "groupId"), ({"agentIds": []}, None),
                        ({"name": ""}, "name")):
        error = await error_of(client, "post", "/api/memory/groups", 400, body)
        if field is not None:
            assert error["details"]["field"] == field
    assert len(await groups_of(client)) == 2


async def test_a_message_server_is_a_group(client: Any) -> None:
    turn = await dm_turn(client)
    group = (await groups_of(client))[DEFAULT_SERVER]
    assert group["agentIds"] == [ELIZA_ID]
    assert group["memoryCount"] == 2
    memories = (await get_json(client, f"/api/memory/groups/{DEFAULT_SERVER}/memories"))[
        "data"]["memories"]
    assert {m["roomId"] for m in memories} == {turn.room_id}
    unknown = f"/api/memory/groups/{ids.new_uuid()}/memories"
    assert (await error_of(client, "get", unknown, 404))["code"] == "NOT_FOUND"
    assert (await error_of(client, "get", "/api/memory/groups/nope/memories", 400))[
        "code"] == "INVALID_ID"
    error = await error_of(client, "get", f"/api/memory/groups/{DEFAULT_SERVER}/memories"
                                          "?limit=x", 400)
    assert error["details"]["field"] == "limit"
