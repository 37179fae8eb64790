"""A Socket.IO CONNECT must name its client: without a UUID `entityId` in the handshake
auth it is refused with `44{"message":"Valid entityId required"}`, as the original does."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import socketio

from conftest import LiveServer

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"
REFUSED = '44{"message":"Valid entityId required"}'


async def open_session(client: Any) -> str:
    response = await client.get(HANDSHAKE)
    sid = json.loads((await response.get_data(as_text=True))[1:])["sid"]
    return f"{HANDSHAKE}&sid={sid}"


async def answer_to(client: Any, url: str, packet: str) -> list[str]:
    assert await (await client.post(url, data=packet)).get_data(as_text=True) == "ok"
    return str(await (await client.get(url)).get_data(as_text=True)).split("\x1e")


@pytest.mark.parametrize("packet", [
    "40", "40{}", '40{"entityId":null}', '40{"entityId":""}', '40{"entityId":"user-1"}',
    '40{"entityId":42}', '40{"entityId":["00000000-0000-4000-8000-000000000001"]}',
], ids=["no-auth", "empty-auth", "null", "empty", "not-a-uuid", "number", "list"])
async def test_a_connect_without_a_valid_entity_id_is_refused(client: Any, packet: str) -> None:
    url = await open_session(client)
    assert await answer_to(client, url, packet) == [REFUSED]
    # The Engine.IO session stays: the client may connect again, this time with an id.
    entity_id = str(uuid.uuid4())
    connected = await answer_to(client, url, "40" + json.dumps({"entityId": entity_id}))
    assert connected[0].startswith('40{"sid":')
    event, data = json.loads(connected[1][2:])
    assert (event, data["entityId"]) == ("authenticated", entity_id)


def test_socketio_client_without_entity_id_gets_connect_error(live_server: LiveServer) -> None:
    nameless = socketio.Client(reconnection=False)
    errors: list[Any] = []
    nameless.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        nameless.connect(live_server.url, transports=["websocket"], wait_timeout=10)
    assert errors == [{"message": "Valid entityId required"}]
    named = socketio.Client(reconnection=False)
    named.connect(live_server.url, transports=["websocket"],
                  auth={"entityId": str(uuid.uuid4())}, wait_timeout=10)
    try:
        assert named.connected
    finally:
        named.disconnect()
