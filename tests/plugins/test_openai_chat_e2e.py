"""An agent using eliza-plugin-openai answers a chat through the full messaging path, and its
streamed chunks reach a real Socket.IO client (python-socketio) before the final message."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import socketio
import trio

from conftest import LiveServer
from eliza.ids import DEFAULT_SERVER_ID

from .fake_openai import FakeOpenAI


def chat_over_socket(url: str, user: str, channel_id: str, text: str) -> list[tuple[str, Any]]:
    """Join the channel, send one message, collect events until messageComplete, and then
    until nothing the agent's turn sent can still be on its way."""
    events: list[tuple[str, Any]] = []
    completed = threading.Semaphore(0)
    sio = socketio.Client()
    sio.on("messageStreamChunk", lambda data: events.append(("chunk", data)))
    sio.on("messageBroadcast", lambda data: events.append(("broadcast", data)))

    def on_complete(data: Any) -> None:
        events.append(("complete", data))
        completed.release()

    sio.on("messageComplete", on_complete)
    sio.connect(url, auth={"entityId": user}, transports=["websocket"], wait_timeout=10)
    try:
        sio.call("message", {"type": 1, "payload": {"channelId": channel_id, "entityId": user}},
                 timeout=10)
        sio.emit("message", {"type": 2, "payload": {
            "senderId": user, "senderName": "tester", "message": text,
            "channelId": channel_id, "messageServerId": DEFAULT_SERVER_ID,
            "messageId": str(uuid.uuid4()), "source": "client_chat", "metadata": {"isDm": True},
        }})
        assert completed.acquire(timeout=30), f"no messageComplete; got {events}"
        # Anything sent after completion would be a bug. A second messageComplete, asked for
        # over REST, reaches the sockets through the same bus after everything the turn
        # published: once it is here, any such event is here too.
        httpx.post(f"{url}/api/messaging/complete", json={"channel_id": channel_id},
                   timeout=10).raise_for_status()
        assert completed.acquire(timeout=10), f"no second messageComplete; got {events}"
    finally:
        sio.disconnect()
    marker = max(i for i, (kind, _) in enumerate(events) if kind == "complete")
    del events[marker]
    return events


async def test_openai_agent_streams_to_a_socket_client(
    live_server: LiveServer, nursery: trio.Nursery
) -> None:
    fake = FakeOpenAI(chunks=("Hel", "lo ", "there"))
    await nursery.start(fake.run)
    user = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        created = await http.post("/api/agents", json={"characterJson": {
            "name": "Gpt", "plugins": ["@elizaos/plugin-openai"],
            "settings": {"secrets": {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.url}},
        }})
        agent_id = created.json()["data"]["id"]
        assert (await http.post(f"/api/agents/{agent_id}/start")).status_code == 200
        channel = await http.post("/api/messaging/channels", json={
            "name": "dm with gpt", "message_server_id": DEFAULT_SERVER_ID, "type": "DM",
            "participantCentralUserIds": [user, agent_id],
            "metadata": {"isDm": True, "forAgent": agent_id}})
        channel_id = channel.json()["data"]["id"]

        events = await trio.to_thread.run_sync(
            chat_over_socket, live_server.url, user, channel_id, "Say hello")

        chunks = [data for kind, data in events if kind == "chunk"]
        replies = [data for kind, data in events
                   if kind == "broadcast" and data["senderId"] == agent_id]
        assert [c["chunk"] for c in chunks] == ["Hel", "lo ", "there"]
        assert [c["index"] for c in chunks] == [0, 1, 2]
        assert len(replies) == 1
        reply = replies[0]
        assert reply["text"] == "Hello there"
        assert {c["messageId"] for c in chunks} == {reply["id"]}
        kinds = [kind for kind, data in events if kind != "broadcast" or data is reply]
        assert kinds == ["chunk", "chunk", "chunk", "broadcast", "complete"]

        streamed = [r for r in fake.requests if r["path"] == "chat"]
        assert len(streamed) == 1
        assert streamed[0]["body"]["stream"] is True
        assert streamed[0]["auth"] == "Bearer sk-test"
        assert "Say hello" in str(streamed[0]["body"]["messages"])

        stored = await http.get(f"/api/messaging/channels/{channel_id}/messages")
        texts = [m["content"] for m in stored.json()["data"]["messages"]]
        assert texts == ["Hello there", "Say hello"]
