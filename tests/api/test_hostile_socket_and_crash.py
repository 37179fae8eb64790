"""Malformed Socket.IO sends get `messageError` (and store nothing); an exception that
still escapes a handler is a 500 envelope whose error id is also in the log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import trio

from tests.api.hostile import refused
from tests.messaging.helpers import USER_ID, create_channel, messages

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


async def connect(client: Any) -> str:
    """A Socket.IO connection over long polling; returns its polling URL."""
    response = await client.get(HANDSHAKE)
    sid = json.loads((await response.get_data(as_text=True))[1:])["sid"]
    url = f"{HANDSHAKE}&sid={sid}"
    connect_packet = "40" + json.dumps({"entityId": USER_ID})
    assert (await client.post(url, data=connect_packet)).status_code == 200
    await client.get(url)  # the connect answer and `authenticated`
    return url


async def next_event(client: Any, url: str, name: str) -> Any:
    with trio.fail_after(10):
        while True:
            text = await (await client.get(url)).get_data(as_text=True)
            for packet in text.split("\x1e"):
                if packet.startswith("42"):
                    event, *args = json.loads(packet[2:])
                    if event == name:
                        return args[0] if args else None


@pytest.mark.parametrize("bad", [
    {"message": "\ud800"},
    {"metadata": [1, 2]},
    {"metadata": "text"},
    {"source": {"a": 1}},
    {"channelId": "not-a-uuid"},
    {"message": "x" * 200_001},
], ids=["surrogate", "metadata-list", "metadata-string", "source-object", "bad-channel",
        "too-long"])
async def test_a_malformed_socket_send_gets_message_error(client: Any,
                                                          bad: dict[str, Any]) -> None:
    channel = await create_channel(client, [USER_ID])
    url = await connect(client)
    payload = {"channelId": channel["id"], "senderId": USER_ID, "message": "hello",
               "messageServerId": "00000000-0000-0000-0000-000000000000", **bad}
    # json.dumps escapes a lone surrogate as "\ud800", as a JS client's JSON.stringify does.
    packet = "42" + json.dumps(["2", payload])
    assert (await client.post(url, data=packet)).status_code == 200
    error = await next_event(client, url, "messageError")
    assert error["error"]
    assert await messages(client, channel["id"]) == []


async def test_an_escaped_exception_is_a_500_with_an_error_id_in_the_log(
    app: Any, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom() -> Any:
        raise RuntimeError("a bug")

    app.app.add_url_rule("/api/test-only/boom", "boom", boom)

    with caplog.at_level(logging.ERROR):
        error = await refused(await client.get("/api/test-only/boom"), status=500,
                              code="INTERNAL_ERROR")
    error_id = error["details"]["errorId"]
    assert isinstance(error_id, str)
    assert len(error_id) >= 8
    assert any(error_id in record.getMessage() for record in caplog.records)
    assert "a bug" not in json.dumps(error)
