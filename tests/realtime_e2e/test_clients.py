"""Real Socket.IO clients against the live server (`hypercorn -k trio eliza.app:app`):
the published `socket.io-client` 4.8 (node, as the web UI uses it) with its default
transports (polling, then the websocket upgrade) and websocket-only, and python-socketio's
`Client` with its defaults. Each one chats with the default ELIZA agent in a DM channel the
way the UI does, and the node client also drives the log stream. Auth on: no key is a
`connect_error`, `auth.apiKey` (or the X-API-KEY header) connects.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from conftest import STORES, LiveServer, run_node
from eliza import ids
from tests.backends import shared_store

from ..socket_events import Events

ELIZA_ID = ids.string_to_uuid("Eliza")
SERVER_ID = ids.DEFAULT_SERVER_ID
USER_TEXT = "Men are all alike."
DOCTOR_REPLY = "In what way?"  # the DOCTOR script's first answer to "alike"
NODE_TIMEOUT = 60.0


@pytest.fixture(scope="module", params=STORES)
def chat_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[LiveServer]:
    """One live server on each store shared by the chat tests (each test uses its own user
    and DM)."""
    with shared_store(request.param) as env:
        server = LiveServer(Path(tmp_path_factory.mktemp("chat")) / ".eliza", env)
        server.start()
        yield server
        server.stop()


def create_dm(server: LiveServer, user: str) -> str:
    """A DM channel between `user` and Eliza, created as the web UI creates it."""
    response = httpx.post(f"{server.url}/api/messaging/channels", headers=server.auth_headers,
                          timeout=10, json={
                              "name": "DM with Eliza", "message_server_id": SERVER_ID,
                              "participantCentralUserIds": [user, ELIZA_ID], "type": "DM",
                              "metadata": {"isDm": True, "forAgent": ELIZA_ID}})
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def node_chat(server: LiveServer, user: str, channel: str, **extra: Any) -> Any:
    config = {"url": server.url, "scenario": "chat", "entityId": user, "agentId": ELIZA_ID,
              "channelId": channel, "text": USER_TEXT, **extra}
    return run_node("sio_chat.mjs", json.dumps(config), timeout=NODE_TIMEOUT)


def check_chat(r: dict[str, Any], user: str, channel: str) -> None:
    """What every client must have seen: connect, join, echo, ack, the agent's answer."""
    assert "error" not in r, r.get("error")
    assert r["connect"] == {"connected": True}
    assert r["authenticated"]["entityId"] == user
    assert r["connectionEstablished"]["socketId"]
    assert r["channelJoined"]["channelId"] == r["channelJoined"]["roomId"] == channel
    assert r["roomJoined"]["channelId"] == channel

    client_id = r["clientMessageId"]
    echo = r["echo"]
    assert echo["senderId"] == user
    assert echo["text"] == USER_TEXT
    assert echo["clientMessageId"] == client_id
    assert echo["channelId"] == echo["roomId"] == channel
    ack = r["messageAck"]
    assert ack == {"clientMessageId": client_id, "messageId": echo["id"],
                   "status": "received_by_server_and_processing", "channelId": channel,
                   "roomId": channel}
    # emitWithAck: the `message` event answers the sender with the same acknowledgement.
    assert r["sendAck"] == {"success": True, **ack}

    reply = r["reply"]
    assert reply["senderId"] == ELIZA_ID
    assert reply["senderName"] == "Eliza"
    assert reply["text"] == DOCTOR_REPLY
    assert reply["source"] == "agent_response"
    assert reply["roomId"] == channel
    assert reply["inReplyTo"] == echo["id"]
    assert r["complete"]["channelId"] == r["complete"]["roomId"] == channel

    names = [e["event"] for e in r["events"]]
    # The echo comes before its ack, and the agent's answer after both.
    assert names.index("messageAck") > names.index("messageBroadcast")
    assert names.count("messageBroadcast") == 2  # the echo is not sent twice to the sender

    # The log stream: confirmed, a server log line arrives, the level filter applies.
    assert r["logSubscribed"] == {"subscribed": True,
                                  "message": "Successfully subscribed to log stream"}
    assert r["filtersInfo"] == {"success": True, "filters": {"agentName": "all", "level": "info"}}
    assert r["createFirst"]["status"] == 201
    entry = r["logEntry"]
    assert entry["type"] == "log_entry"
    assert entry["payload"]["level"] == 30
    assert entry["payload"]["agentId"] == r["createFirst"]["body"]["data"]["id"]
    assert isinstance(entry["payload"]["time"], int)
    assert r["filtersError"]["filters"]["level"] == "error"
    assert r["filteredOut"] is True  # an info line is not streamed at level "error"
    assert r["logUnsubscribed"]["subscribed"] is False


@pytest.mark.node  # socket.io-client, run by node
def test_socketio_client_default_transports_upgrades(chat_server: LiveServer) -> None:
    user = str(uuid.uuid4())
    channel = create_dm(chat_server, user)
    r = node_chat(chat_server, user, channel)
    check_chat(r, user, channel)
    assert r["initialTransport"] == "polling"
    assert r["upgradedTo"] == "websocket"
    assert r["finalTransport"] == "websocket"


@pytest.mark.node  # socket.io-client, run by node
def test_socketio_client_websocket_only(chat_server: LiveServer) -> None:
    user = str(uuid.uuid4())
    channel = create_dm(chat_server, user)
    r = node_chat(chat_server, user, channel, transports=["websocket"])
    check_chat(r, user, channel)
    assert r["initialTransport"] == "websocket"
    assert "upgradedTo" not in r
    assert r["finalTransport"] == "websocket"




def test_python_socketio_client_default_transports(chat_server: LiveServer) -> None:
    user = str(uuid.uuid4())
    channel = create_dm(chat_server, user)
    client = socketio.Client(reconnection=False)
    events = Events(client)
    try:
        client.connect(chat_server.url, auth={"entityId": user}, wait_timeout=10)
        # Its defaults are polling then websocket: the handshake came over polling (which
        # offers the upgrade; a websocket handshake offers none) and the upgrade happened.
        assert client.eio.upgrades == ["websocket"]
        assert client.transport() == "websocket"
        assert events.wait("authenticated")["entityId"] == user

        # The event named "1" (ROOM_JOINING), with an ack asked for.
        joined = client.call("1", {"channelId": channel, "entityId": user}, timeout=10)
        assert joined["success"] is True
        assert joined["channelId"] == channel
        assert events.wait("channel_joined")["channelId"] == channel

        client_id = str(uuid.uuid4())
        ack = client.call("message", {"type": 2, "payload": {
            "senderId": user, "senderName": "py", "message": USER_TEXT, "channelId": channel,
            "roomId": channel, "messageServerId": SERVER_ID, "messageId": client_id,
            "source": "client_chat", "attachments": [], "metadata": {}}}, timeout=10)
        assert ack["success"] is True
        assert ack["clientMessageId"] == client_id
        echo = events.wait("messageBroadcast", lambda d: d.get("clientMessageId") == client_id)
        assert echo["text"] == USER_TEXT
        assert echo["id"] == ack["messageId"]
        assert events.wait("messageAck")["messageId"] == ack["messageId"]
        reply = events.wait("messageBroadcast", lambda d: d["senderId"] == ELIZA_ID)
        assert reply["text"] == DOCTOR_REPLY
        assert reply["channelId"] == channel
        assert events.wait("messageComplete")["channelId"] == channel

        client.emit("subscribe_logs")
        assert events.wait("log_subscription_confirmed")["subscribed"] is True
        name = f"PyLogProbe{uuid.uuid4().hex[:8]}"
        created = httpx.post(f"{chat_server.url}/api/agents", timeout=10,
                             json={"characterJson": {"name": name, "bio": ["probe"]}})
        assert created.status_code == 201
        entry = events.wait("log_stream",
                            lambda d: d["payload"]["msg"] == f"agent {name} created")
        assert entry["payload"]["agentName"] == name
        client.emit("update_log_filters", {"agentName": name, "level": "debug"})
        assert events.wait("log_filters_updated")["filters"] == {"agentName": name,
                                                                 "level": "debug"}
    finally:
        client.disconnect()
        client.eio.disconnect()


@pytest.mark.node  # socket.io-client, run by node
def test_auth_required(live_server_factory: Any) -> None:
    token = "socket-secret"
    server: LiveServer = live_server_factory(ELIZA_SERVER_AUTH_TOKEN=token)
    user = str(uuid.uuid4())
    config = {"url": server.url, "scenario": "auth", "entityId": user, "apiKey": token}

    for transports in (None, ["websocket"]):
        r = run_node("sio_chat.mjs", json.dumps({**config, "transports": transports}),
                     timeout=NODE_TIMEOUT)
        assert "error" not in r, r.get("error")
        assert r["withoutKey"] == {"connected": False,
                                   "error": "Unauthorized: invalid or missing API key"}
        assert r["wrongKey"]["connected"] is False
        assert r["withKey"] == {"connected": True}
        assert r["authenticated"]["entityId"] == user
        assert r["withHeader"] == {"connected": True}

    refused = socketio.Client(reconnection=False)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            refused.connect(server.url, auth={"entityId": user}, wait_timeout=5)
    finally:
        refused.disconnect()
        refused.eio.disconnect()
    accepted = socketio.Client(reconnection=False)
    try:
        accepted.connect(server.url, auth={"entityId": user, "apiKey": token}, wait_timeout=5)
        assert accepted.connected
    finally:
        accepted.disconnect()
        accepted.eio.disconnect()
