"""Deleting a message, clearing, updating and deleting a channel over REST reach the sockets
in that channel's room (bus -> realtime hub), as the web UI expects."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import socketio

from conftest import LiveServer
from eliza.ids import DEFAULT_SERVER_ID

EVENTS = ("messageDeleted", "channelCleared", "channelUpdated", "channelDeleted")


def test_channel_events_reach_joined_sockets(live_server: LiveServer) -> None:
    user = str(uuid.uuid4())
    received: list[tuple[str, Any]] = []
    arrived = threading.Condition()
    http = httpx.Client(base_url=live_server.url, timeout=10)
    sio = socketio.Client()

    def record(name: str) -> Any:
        def handler(data: Any) -> None:
            with arrived:
                received.append((name, data))
                arrived.notify_all()
        return handler

    def wait_for(name: str) -> Any:
        with arrived:
            assert arrived.wait_for(lambda: any(n == name for n, _ in received), timeout=10), (
                f"no {name}; got {received}")
            return next(d for n, d in received if n == name)

    for name in EVENTS:
        sio.on(name, record(name))
    try:
        channel = http.post("/api/messaging/channels", json={
            "name": "room", "message_server_id": DEFAULT_SERVER_ID, "type": "GROUP",
            "participantCentralUserIds": [user]}).json()["data"]
        channel_id = channel["id"]
        posted = http.post(f"/api/messaging/channels/{channel_id}/messages",
                           json={"content": "to be deleted", "author_id": user})
        message_id = posted.json()["data"]["id"]
        sio.connect(live_server.url, auth={"entityId": user}, wait_timeout=10)
        sio.call("message", {"type": 1, "payload": {"channelId": channel_id}}, timeout=10)

        assert http.delete(
            f"/api/messaging/channels/{channel_id}/messages/{message_id}").status_code == 204
        assert wait_for("messageDeleted") == {"messageId": message_id, "channelId": channel_id}

        assert http.delete(f"/api/messaging/channels/{channel_id}/messages").status_code == 204
        assert wait_for("channelCleared") == {"channelId": channel_id}

        assert http.patch(f"/api/messaging/channels/{channel_id}",
                          json={"name": "renamed"}).status_code == 200
        updated = wait_for("channelUpdated")
        assert updated["channelId"] == channel_id
        assert updated["updates"]["name"] == "renamed"

        assert http.delete(f"/api/messaging/channels/{channel_id}").status_code == 204
        assert wait_for("channelDeleted") == {"channelId": channel_id}
    finally:
        sio.disconnect()
        http.close()
