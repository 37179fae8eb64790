"""The ElizaOS realtime protocol in one place: every Socket.IO event the server handles or
sends, whom a sent event reaches, and the JSON schema of its payload (and of the ack a
handled event answers with).

`GET /api/asyncapi.json` is generated from these definitions (eliza/realtime/asyncapi.py).
The hub and the log stream name the events they handle and emit themselves;
tests/api/test_asyncapi.py fails when one of them is not described here, so the published
contract cannot drift from the code.

Payloads are JSON Schema in the keywords draft-07 and 2020-12 share (AsyncAPI's default
schema format is a draft-07 superset).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

# The `type` of a `message` event (`SOCKET_MESSAGE_TYPE` in ElizaOS core); the other types
# (3 MESSAGE, 4 ACK, 5 THINKING, 6 CONTROL) are ignored, as by the original server.
ROOM_JOINING = 1
SEND_MESSAGE = 2

Schema = Mapping[str, Any]
# Whom a sent event reaches: the one socket it concerns, every socket that joined the
# channel's room, or the sockets subscribed to the log stream.
Audience = Literal["socket", "room", "log_subscribers"]


@dataclass(frozen=True)
class ReceivedEvent:
    """An event a client emits to the server. `payload`: the schema of its one argument
    (None: it takes none). `ack`: what the server answers when the client asks for an ack
    (None: an empty ack)."""

    name: str
    summary: str
    payload: Schema | None = None
    ack: Schema | None = None
    description: str = ""


@dataclass(frozen=True)
class SentEvent:
    """An event the server sends. `packet`: "event" (an EVENT packet named `name`) or
    "connect_error" (the CONNECT_ERROR packet refusing a connection, which Socket.IO clients
    raise as their `connect_error` event). `sent`: False for an event of the ElizaOS protocol
    that clients listen for but this server never sends."""

    name: str
    summary: str
    audience: Audience
    payload: Schema
    packet: Literal["event", "connect_error"] = "event"
    sent: bool = True
    description: str = ""


def _obj(required: tuple[str, ...] = (), **properties: Schema) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    return schema


def _text(description: str = "", **more: Any) -> dict[str, Any]:
    return {"type": "string", **({"description": description} if description else {}), **more}


def _uuid(description: str = "") -> dict[str, Any]:
    return _text(description, format="uuid")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


_CHANNEL = _uuid("the central channel id (the Socket.IO room)")
_ROOM = _uuid("the same as channelId (older clients read this name)")
_SERVER = _uuid("the message server id")
_FAILURE = _obj(("success", "error"), success={"const": False}, error=_text())

ROOM_JOINING_PAYLOAD = {
    **_obj(
        channelId=_text("the channel to join (a UUID names a central channel)"),
        roomId=_text("the older name of channelId"),
        agentId=_uuid("the agent the client chats with (echoed in the replies)"),
        entityId=_uuid(), serverId=_text(), metadata={"type": "object"}),
    "anyOf": [{"required": ["channelId"]}, {"required": ["roomId"]}],
}
SEND_MESSAGE_PAYLOAD = {
    **_obj(
        ("message",),
        message=_text("the text; not blank, at most MAX_MESSAGE_CHARS characters",
                      minLength=1),
        channelId=_uuid("the channel the message is posted to"),
        roomId=_uuid("the older name of channelId"),
        senderId=_uuid("the author (default: the socket's entityId)"),
        senderName=_text("the author's display name (default: User)"),
        messageServerId=_text("the message server (default: the default server); serverId, "
                              "message_server_id and server_id are read too"),
        serverId=_text(),
        messageId=_text("the client's id: echoed as clientMessageId, and a repeat with "
                        "the same id stores nothing new"),
        source=_text("what sent it (default: socketio_client)"),
        attachments={"type": "array"}, metadata={"type": "object"}),
    "anyOf": [{"required": ["channelId"]}, {"required": ["roomId"]}],
}
JOINED = _obj(("message", "channelId", "roomId"), message=_text(), channelId=_text(),
              roomId=_text(), agentId=_uuid())
JOIN_ACK = {"oneOf": [
    {**JOINED, "required": ["success", *JOINED["required"]],
     "properties": {"success": {"const": True}, **JOINED["properties"]}},
    _FAILURE]}
MESSAGE_ACK = _obj(
    ("clientMessageId", "messageId", "status", "channelId", "roomId"),
    clientMessageId={"type": ["string", "null"]}, messageId=_uuid("the stored message"),
    status={"const": "received_by_server_and_processing"}, channelId=_CHANNEL, roomId=_ROOM)
SEND_ACK = {"oneOf": [
    {**MESSAGE_ACK, "required": ["success", *MESSAGE_ACK["required"]],
     "properties": {"success": {"const": True}, **MESSAGE_ACK["properties"]}},
    _FAILURE]}
LOG_FILTERS = _obj(agentName=_text("an agent's name, or all"),
                   level=_text("the lowest level sent: trace, debug, info, warn, error, "
                               "fatal, or all"))
LOG_ENTRY = _obj(("time", "level", "msg"), time={"type": "integer", "description": "epoch ms"},
                 level={"type": "integer", "description": "pino's numbers: 30 info, 50 error"},
                 msg=_text(), agentName=_text(), agentId=_uuid())
BROADCAST = _obj(
    ("id", "senderId", "senderName", "text", "channelId", "roomId", "serverId", "source"),
    id=_uuid("the stored message (or the notice of an agent's failure)"),
    senderId=_nullable(_uuid()), senderName=_text(), text=_text(),
    channelId=_CHANNEL, roomId=_ROOM, serverId=_nullable(_SERVER),
    messageServerId=_nullable(_SERVER),
    createdAt={"type": ["integer", "null"], "description": "epoch ms"},
    source=_text("e.g. socketio_client, api, agent_response; agent_error for the notice "
                 "(not stored) that an agent could not answer"),
    metadata={"type": "object"},
    thought=_text("the agent's reasoning, on an agent's reply"),
    actions={"type": "array", "items": {"type": "string"}},
    attachments={"type": "array"}, inReplyTo=_uuid("the message this one answers"),
    clientMessageId={"type": ["string", "null"],
                     "description": "only on the copy sent back to the sender"})


def _envelope(kind: int, payload: Schema) -> dict[str, Any]:
    return _obj(("type", "payload"), type={"enum": [kind, str(kind)]}, payload=payload)


RECEIVED: tuple[ReceivedEvent, ...] = (
    ReceivedEvent(
        "message", "Join a channel or send a message (what the web UI emits)",
        {"oneOf": [_envelope(ROOM_JOINING, ROOM_JOINING_PAYLOAD),
                   _envelope(SEND_MESSAGE, SEND_MESSAGE_PAYLOAD)]},
        {"oneOf": [JOIN_ACK, SEND_ACK]},
        "type 1 (ROOM_JOINING) is handled as the event `1`, type 2 (SEND_MESSAGE) as `2`. "
        "Other types and malformed data are ignored (an ack carries no argument)."),
    ReceivedEvent(
        str(ROOM_JOINING), "ROOM_JOINING: join a channel's room to get its broadcasts",
        ROOM_JOINING_PAYLOAD, JOIN_ACK,
        "Answered with `channel_joined` and `room_joined`, or `messageError` without a "
        "channel."),
    ReceivedEvent(
        str(SEND_MESSAGE), "SEND_MESSAGE: post a message to a channel",
        SEND_MESSAGE_PAYLOAD, SEND_ACK,
        "The message is stored (an agent in the channel answers it), the sender joins the "
        "channel's room and gets `messageBroadcast` (with its clientMessageId) and "
        "`messageAck`; the room gets `messageBroadcast`. Bad input: `messageError`, nothing "
        "stored."),
    ReceivedEvent("subscribe_logs", "Receive the server's log entries as `log_stream`"),
    ReceivedEvent("unsubscribe_logs", "Stop receiving `log_stream`"),
    ReceivedEvent("update_log_filters", "Narrow the log entries sent (by agent, by level)",
                  LOG_FILTERS),
)

SENT: tuple[SentEvent, ...] = (
    SentEvent("authenticated", "The connection is accepted: the socket's entity id",
              "socket", _obj(("entityId", "timestamp"), entityId=_uuid(),
                             timestamp={"type": "integer", "description": "epoch ms"})),
    SentEvent("connection_established", "Sent once after `authenticated`", "socket",
              _obj(("message", "socketId"), message=_text(), socketId=_text())),
    SentEvent("connect_error", "The connection is refused", "socket",
              _obj(("message",), message=_text(
                  "why: a missing or wrong API key, an entityId that is not a UUID, or an "
                  "unknown namespace")),
              packet="connect_error",
              description="A CONNECT_ERROR packet; Socket.IO clients raise it as their "
                          "`connect_error` event."),
    SentEvent("channel_joined", "The socket joined the channel's room", "socket", JOINED),
    SentEvent("room_joined", "The same as `channel_joined`, for older clients", "socket",
              JOINED),
    SentEvent("messageBroadcast", "A message stored in the channel (by anyone: a socket, "
              "REST, a session or an agent)", "room", BROADCAST),
    SentEvent("messageAck", "The sender's message was stored", "socket", MESSAGE_ACK),
    SentEvent("messageError", "The socket's join or message was refused", "socket",
              _obj(("error",), error=_text())),
    SentEvent("messageStreamChunk", "A piece of an agent's reply as it is generated",
              "room", _obj(("messageId", "chunk", "index", "agentId", "channelId"),
                           messageId=_uuid(), chunk=_text(), index={"type": "integer"},
                           agentId=_uuid(), channelId=_CHANNEL, roomId=_ROOM,
                           inReplyTo={"type": ["string", "null"]})),
    SentEvent("messageStreamError", "An agent could not answer a message", "room",
              _obj(("channelId", "roomId", "error"), channelId=_CHANNEL, roomId=_ROOM,
                   messageId=_nullable(_uuid("the message it could not answer")),
                   agentId=_nullable(_uuid()), error=_text("why, for the person chatting")),
              description="Followed by a `messageBroadcast` from the agent with the reason "
                          "(source agent_error) and `messageComplete` with the error."),
    SentEvent("messageComplete", "The agent finished with the channel's last message (the "
              "web UI re-enables its input)", "room",
              _obj(("channelId", "roomId", "serverId"), channelId=_CHANNEL, roomId=_ROOM,
                   serverId=_SERVER, messageServerId=_SERVER,
                   agentId=_nullable(_uuid("with error: the agent")),
                   inReplyTo=_nullable(_uuid("with error: the message it could not answer")),
                   error=_text("only when the agent's turn failed: why"))),
    SentEvent("messageDeleted", "A message of the channel was deleted", "room",
              _obj(("messageId", "channelId"), messageId=_uuid(), channelId=_CHANNEL)),
    SentEvent("channelCleared", "Every message of the channel was deleted", "room",
              _obj(("channelId",), channelId=_CHANNEL)),
    SentEvent("channelDeleted", "The channel was deleted", "room",
              _obj(("channelId",), channelId=_CHANNEL)),
    SentEvent("channelUpdated", "The channel's name, participants or metadata changed",
              "room", _obj(("channelId", "updates"), channelId=_CHANNEL,
                           updates={"type": "object", "description": "the changed fields"})),
    SentEvent("controlMessage", "Enable or disable the web UI's input", "room",
              _obj(("action",), action={"enum": ["enable_input", "disable_input"]},
                   target=_text(), channelId=_CHANNEL, roomId=_ROOM),
              sent=False,
              description="Part of the ElizaOS protocol the web UI listens for; this server "
                          "never sends it (`messageComplete` re-enables the input)."),
    SentEvent("log_stream", "A captured log entry matching the socket's filters",
              "log_subscribers",
              _obj(("type", "payload"), type={"const": "log_entry"}, payload=LOG_ENTRY)),
    SentEvent("log_subscription_confirmed", "Answer to `subscribe_logs` and "
              "`unsubscribe_logs`", "socket",
              _obj(("subscribed", "message"), subscribed={"type": "boolean"},
                   message=_text())),
    SentEvent("log_filters_updated", "Answer to `update_log_filters`", "socket",
              {"oneOf": [_obj(("success", "filters"), success={"const": True},
                              filters=LOG_FILTERS), _FAILURE]}),
)
