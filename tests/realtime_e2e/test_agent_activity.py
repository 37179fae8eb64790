"""Through a live server and a real Socket.IO client (python-socketio): a subscribed log
stream delivers a chat turn's steps as they happen, and a turn whose model fails (the openai
plugin pointed at an address where nothing listens) tells the channel why: a
`messageStreamError`, the reason as a message from the agent, and `messageComplete`."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import socketio

from conftest import LiveServer
from eliza import ids
from eliza.testing.live import free_port

from ..socket_events import Events

SERVER_ID = ids.DEFAULT_SERVER_ID


def _agent(server: LiveServer, character: dict[str, Any]) -> str:
    created = httpx.post(f"{server.url}/api/agents", timeout=10,
                         json={"characterJson": {"bio": ["test"], **character}})
    assert created.status_code == 201, created.text
    agent_id = str(created.json()["data"]["id"])
    started = httpx.post(f"{server.url}/api/agents/{agent_id}/start", timeout=10)
    assert started.status_code == 200, started.text
    return agent_id


def _dm(server: LiveServer, user: str, agent_id: str) -> str:
    response = httpx.post(f"{server.url}/api/messaging/channels", timeout=10, json={
        "name": "DM", "message_server_id": SERVER_ID, "type": "DM",
        "participantCentralUserIds": [user, agent_id]})
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def _say(client: socketio.Client, user: str, channel: str, text: str) -> None:
    client.call("1", {"channelId": channel, "entityId": user}, timeout=10)
    ack = client.call("message", {"type": 2, "payload": {
        "senderId": user, "senderName": "py", "message": text, "channelId": channel,
        "roomId": channel, "messageServerId": SERVER_ID, "messageId": str(uuid.uuid4()),
        "source": "client_chat", "attachments": [], "metadata": {}}}, timeout=10)
    assert ack["success"] is True


def test_the_log_stream_tells_a_turn_and_a_failed_turn_reaches_the_channel(
        live_server: LiveServer) -> None:
    user = str(uuid.uuid4())
    doctor = _agent(live_server, {"name": "Doc"})
    dead_end = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    unreachable = _agent(live_server, {"name": "Unreachable", "plugins": ["openai"],
                                       "settings": {"secrets": {
                                           "OPENAI_API_KEY": "sk-test-not-a-key",
                                           "OPENAI_BASE_URL": dead_end,
                                           "OPENAI_MAX_RETRIES": "0"}}})
    client = socketio.Client(reconnection=False)
    events = Events(client)
    try:
        client.connect(live_server.url, auth={"entityId": user}, wait_timeout=10)
        client.emit("subscribe_logs")
        events.wait("log_subscription_confirmed")
        client.emit("update_log_filters", {"agentName": "Doc", "level": "info"})
        events.wait("log_filters_updated")

        _say(client, user, _dm(live_server, user, doctor), "Men are all alike.")
        end = events.wait("log_stream", lambda d: " run " in d["payload"]["msg"]
                          and "completed" in d["payload"]["msg"])
        turn = [data["payload"] for name, data in events.seen if name == "log_stream"]
        steps = [entry["msg"] for entry in turn]
        assert len(steps) >= 5, steps
        for step in ("Doc received a message", "Doc will respond", "Doc started run",
                     "Doc used model TEXT_LARGE", "Doc replied in DM: In what way?"):
            assert any(line.startswith(step) for line in steps), (step, steps)
        assert {entry["agentName"] for entry in turn} == {"Doc"}
        assert end["payload"]["agentId"] == doctor

        channel = _dm(live_server, user, unreachable)
        _say(client, user, channel, "hello?")
        error = events.wait("messageStreamError", lambda d: d["channelId"] == channel,
                            timeout=30)
        assert error["agentId"] == unreachable
        notice = events.wait("messageBroadcast", lambda d: d["senderId"] == unreachable)
        assert notice["source"] == "agent_error"
        assert notice["text"] == error["error"]
        assert notice["text"].startswith("Unreachable could not answer:")
        assert notice["senderName"] == "Unreachable"
        complete = events.wait("messageComplete", lambda d: d["channelId"] == channel)
        assert complete["error"] == error["error"]
        assert complete["inReplyTo"] == error["messageId"]
    finally:
        client.disconnect()
