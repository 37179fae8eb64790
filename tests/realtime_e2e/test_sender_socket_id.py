"""A message sent over Socket.IO, through the live server (`hypercorn -k trio eliza.app:app`)
with two python-socketio clients in one GROUP channel (no agent in it): the sender's socket
id is not stored with the message, and the sender still gets its message once (its echo),
not a second time as the channel's broadcast, while the other member gets the broadcast.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import socketio

from conftest import LiveServer
from eliza import ids

from ..socket_events import Events

SERVER_ID = ids.DEFAULT_SERVER_ID


class Member:
    """A python-socketio client connected as `user` and joined to a channel."""

    def __init__(self, server: LiveServer, user: str, channel: str) -> None:
        self.user = user
        self.channel = channel
        self.client = socketio.Client(reconnection=False)
        self.events = Events(self.client)
        self.client.connect(server.url, auth={"entityId": user}, wait_timeout=10)
        # The socket id as the server knows it (the one it used to store with the message).
        self.sid: str = self.events.wait("connection_established")["socketId"]
        joined = self.client.call("message", {"type": 1, "payload": {
            "channelId": channel, "entityId": user}}, timeout=10)
        assert joined["success"] is True

    def send(self, text: str) -> dict[str, Any]:
        ack: dict[str, Any] = self.client.call("message", {"type": 2, "payload": {
            "channelId": self.channel, "senderId": self.user, "message": text,
            "messageServerId": SERVER_ID, "messageId": str(uuid.uuid4())}}, timeout=10)
        assert ack["success"] is True, ack
        return ack

    def broadcast(self, message_id: str) -> Any:
        return self.events.wait("messageBroadcast", lambda d: d["id"] == message_id)

    def copies(self, message_id: str) -> int:
        return sum(1 for name, data in self.events.seen
                   if name == "messageBroadcast" and data["id"] == message_id)

    def close(self) -> None:
        self.client.disconnect()
        self.client.eio.disconnect()


@pytest.fixture
def channel(live_server: LiveServer) -> tuple[str, str, str]:
    sender, other = str(uuid.uuid4()), str(uuid.uuid4())
    response = httpx.post(f"{live_server.url}/api/messaging/channels", timeout=10, json={
        "name": "two people", "message_server_id": SERVER_ID, "type": "GROUP",
        "participantCentralUserIds": [sender, other]})
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"]), sender, other


@pytest.fixture
def members(live_server: LiveServer, channel: tuple[str, str, str]
            ) -> Iterator[tuple[Member, Member]]:
    channel_id, sender_id, other_id = channel
    joined: list[Member] = []
    try:
        joined.append(Member(live_server, sender_id, channel_id))
        joined.append(Member(live_server, other_id, channel_id))
        yield joined[0], joined[1]
    finally:
        for member in joined:
            member.close()


def stored(server: LiveServer, channel_id: str, message_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/messaging/channels/{channel_id}/messages",
                         timeout=10)
    assert response.status_code == 200, response.text
    found = [m for m in response.json()["data"]["messages"] if m["id"] == message_id]
    assert len(found) == 1, response.json()
    return dict(found[0])


def test_the_senders_socket_id_is_not_stored(live_server: LiveServer,
                                             members: tuple[Member, Member]) -> None:
    sender, _ = members
    ack = sender.send("hello there")
    message = stored(live_server, sender.channel, ack["messageId"])
    assert message["content"] == "hello there"
    assert "socket_id" not in (message.get("metadata") or {})
    assert sender.sid not in json.dumps(message)


def test_the_sender_gets_its_message_once_the_others_get_the_broadcast(
    members: tuple[Member, Member],
) -> None:
    sender, other = members
    first = sender.send("first")["messageId"]
    assert other.broadcast(first)["text"] == "first"
    assert sender.broadcast(first)["text"] == "first"  # the echo, before the ack

    # The other member answers; the sender receiving it proves that anything the server
    # sent it about the first message (a second copy) has arrived too: one socket's
    # packets arrive in the order they were sent.
    second = other.send("second")["messageId"]
    assert sender.broadcast(second)["text"] == "second"
    assert sender.copies(first) == 1
    assert other.copies(first) == 1
