"""Rooms and worlds carry `messageServerId` (ElizaOS 1.7's name) beside the older
`serverId`, wherever they are answered."""

from __future__ import annotations

from typing import Any

from eliza import ids
from tests.memory.helpers import DEFAULT_SERVER, ELIZA_ID, dm_turn
from tests.messaging.helpers import get_json, send_json


def _server_of(thing: dict[str, Any]) -> str:
    assert thing["messageServerId"] == thing["serverId"], thing
    server_id: str = thing["messageServerId"]
    return server_id


async def test_rooms_carry_their_message_server(client: Any) -> None:
    turn = await dm_turn(client)
    for prefix in ("/api/memory", "/api/agents"):
        rooms = (await get_json(client, f"{prefix}/{ELIZA_ID}/rooms"))["data"]["rooms"]
        dm = next(room for room in rooms if room["id"] == turn.room_id)
        assert _server_of(dm) == DEFAULT_SERVER
        room = (await get_json(client, f"{prefix}/{ELIZA_ID}/rooms/{turn.room_id}"))["data"]
        assert _server_of(room) == DEFAULT_SERVER

    server_id = ids.new_uuid()
    created = (await send_json(client, "post", f"/api/memory/{ELIZA_ID}/rooms",
                               {"name": "by 1.7 name", "messageServerId": server_id},
                               201))["data"]
    assert _server_of(created) == server_id
    older = (await send_json(client, "post", f"/api/memory/{ELIZA_ID}/rooms",
                             {"name": "by 1.5 name", "serverId": server_id}, 201))["data"]
    assert _server_of(older) == server_id

    group = ids.new_uuid()
    (group_room,) = (await send_json(client, "post", f"/api/memory/groups/{group}",
                                     {"agentIds": [ELIZA_ID], "name": "g"}, 201))["data"]
    assert "messageServerId" in group_room
    assert _server_of(group_room) == group_room["serverId"]


async def test_worlds_carry_their_message_server(client: Any) -> None:
    await dm_turn(client)
    (world,) = (await get_json(client, "/api/agents/worlds"))["data"]["worlds"]
    assert _server_of(world) == DEFAULT_SERVER
    base = f"/api/agents/{ELIZA_ID}/worlds"
    server_id = ids.new_uuid()
    created = (await send_json(client, "post", base,
                               {"name": "Atlantis", "messageServerId": server_id},
                               201))["data"]["world"]
    assert _server_of(created) == server_id
    patched = (await send_json(client, "patch", f"{base}/{created['id']}",
                               {"name": "Lemuria"}))["data"]["world"]
    assert _server_of(patched) == server_id
