"""Group memory spaces: `/api/memory/groups/:serverId` create (201/207/400/404), delete, clear."""

from __future__ import annotations

from typing import Any

from eliza import ids
from tests.messaging.helpers import get_json, send_json

from .helpers import ELIZA_ID, dm_turn, error_of


async def test_group_create_statuses(client: Any) -> None:
    server_id = ids.new_uuid()
    path = f"/api/memory/groups/{server_id}"
    created = await send_json(client, "post", path, {
        "agentIds": [ELIZA_ID], "name": "team", "source": "test", "metadata": {"a": 1}}, 201)
    (room,) = created["data"]
    assert room["id"] == ids.create_unique_uuid(ELIZA_ID, server_id)
    assert room["type"] == "API"
    assert room["name"] == "team"
    assert room["source"] == "test"
    assert room["serverId"] == server_id
    assert room["metadata"] == {"a": 1}
    assert room["worldId"] == ids.create_unique_uuid(ELIZA_ID, server_id)
    rooms = (await get_json(client, f"/api/memory/{ELIZA_ID}/rooms"))["data"]["rooms"]
    assert room["id"] in [r["id"] for r in rooms]

    stranger = ids.new_uuid()
    partial = await send_json(client, "post", path, {"agentIds": [ELIZA_ID, stranger]}, 207)
    assert partial["success"] is False
    assert [r["id"] for r in partial["data"]] == [room["id"]]
    (err,) = partial["errors"]
    assert err["agentId"] == stranger
    assert err["code"] == "NOT_FOUND"
    assert err["message"]

    # No agent has its room: the agents' refusal (a bad id among them: 400), not a 500.
    failed = await send_json(client, "post", path, {"agentIds": [stranger, "bad"]}, 400)
    assert failed["success"] is False
    assert len(failed["errors"]) == 2
    assert failed["error"]["code"] == "CREATE_ERROR"
    assert [e["code"] for e in failed["errors"]] == ["NOT_FOUND", "INVALID_ID"]
    unknown = await send_json(client, "post", path, {"agentIds": [stranger]}, 404)
    assert unknown["error"]["code"] == "CREATE_ERROR"

    # The api-client sends `{messageServerId, name}` without agentIds: every running agent.
    client_call = await send_json(client, "post", path, {"messageServerId": server_id,
                                                         "name": "from client"}, 201)
    assert [r["id"] for r in client_call["data"]] == [room["id"]]

    bodies: list[dict[str, Any]] = [{"agentIds": []}, {"agentIds": "x"}]
    for body in bodies:
        assert (await error_of(client, "post", path, 400, body))["code"] == "BAD_REQUEST"
    assert (await error_of(client, "post", "/api/memory/groups/nope", 400,
                           {"agentIds": [ELIZA_ID]}))["code"] == "INVALID_ID"
    await send_json(client, "post", f"/api/agents/{ELIZA_ID}/stop")
    assert (await error_of(client, "post", path, 400, {}))["code"] == "BAD_REQUEST"


async def test_group_clear_and_delete(client: Any) -> None:
    turn = await dm_turn(client)
    server_id = ids.DEFAULT_SERVER_ID
    room = ids.create_unique_uuid(ELIZA_ID, server_id)
    await send_json(client, "post", f"/api/memory/groups/{server_id}",
                    {"agentIds": [ELIZA_ID]}, 201)
    response = await client.delete(f"/api/memory/groups/{server_id}/memories")
    assert response.status_code == 204
    assert await response.get_data() == b""
    mems = (await get_json(client, f"/api/memory/{ELIZA_ID}/memories"))["data"]["memories"]
    assert mems == []  # the DM's messages lived in Eliza's world of the default server
    rooms = (await get_json(client, f"/api/memory/{ELIZA_ID}/rooms"))["data"]["rooms"]
    assert {turn.room_id, room} <= {r["id"] for r in rooms}

    response = await client.delete(f"/api/memory/groups/{server_id}")
    assert response.status_code == 204
    assert await response.get_data() == b""
    rooms = (await get_json(client, f"/api/memory/{ELIZA_ID}/rooms"))["data"]["rooms"]
    assert not {turn.room_id, room} & {r["id"] for r in rooms}
    # The group deletes do not need a running agent.
    await send_json(client, "post", f"/api/agents/{ELIZA_ID}/stop")
    response = await client.delete(f"/api/memory/groups/{ids.new_uuid()}")
    assert response.status_code == 204
    for tail in ("", "/memories"):
        assert (await error_of(client, "delete", f"/api/memory/groups/bad{tail}",
                               400))["code"] == "INVALID_ID"
