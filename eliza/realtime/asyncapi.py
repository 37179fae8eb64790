"""The AsyncAPI 3.0 document of the realtime protocol, generated from its definitions
(eliza/realtime/events.py), served at `GET /api/asyncapi.json`.

The server is the application the document describes: it `receive`s the events clients
emit and `send`s the others. Channels are whom an event reaches (the one socket, a channel's
room, the log subscribers); an event a client emits with an ack id is answered on the `ack`
channel (the operation's `reply`).
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from .events import RECEIVED, SENT, ReceivedEvent, SentEvent

_CHANNELS: dict[str, dict[str, Any]] = {
    "socket": {"address": "/", "title": "One socket",
               "description": "Events between the server and one connected socket (Socket.IO "
                              "namespace \"/\" at /socket.io/, Engine.IO 4)."},
    "room": {"address": "{channelId}", "title": "A channel's room",
             "description": "Events sent to every socket that joined the channel (with "
                            "ROOM_JOINING, or by sending a message to it).",
             "parameters": {"channelId": {"description": "the central channel id"}}},
    "log_subscribers": {"address": "logs", "title": "Log subscribers",
                        "description": "Sockets that sent `subscribe_logs`, each with its "
                                       "filters."},
    "ack": {"address": None, "title": "Acknowledgements",
            "description": "The ACK packet answering an event the client emitted with an ack "
                           "id (socket.io-client's emitWithAck, python-socketio's call)."},
}


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every event in `RECEIVED` and `SENT`."""
    channels: dict[str, dict[str, Any]] = {
        key: {**channel, "messages": {}} for key, channel in _CHANNELS.items()}
    messages: dict[str, dict[str, Any]] = {}
    operations: dict[str, dict[str, Any]] = {}

    def add(channel: str, key: str, message: dict[str, Any]) -> dict[str, str]:
        messages[key] = message
        channels[channel]["messages"][key] = {"$ref": f"#/components/messages/{key}"}
        return {"$ref": f"#/channels/{channel}/messages/{key}"}

    for received in RECEIVED:
        key = f"client.{received.name}"
        operation: dict[str, Any] = {
            "action": "receive", "channel": {"$ref": "#/channels/socket"},
            "summary": received.summary,
            "messages": [add("socket", key, _received_message(received))],
        }
        if received.description:
            operation["description"] = received.description
        ack: dict[str, Any] = {"name": received.name, "title": f"ack of {received.name}"}
        if received.ack is None:
            ack["description"] = "An ack without arguments."
        else:
            ack["payload"] = dict(received.ack)
        operation["reply"] = {"channel": {"$ref": "#/channels/ack"},
                              "messages": [add("ack", f"ack.{received.name}", ack)]}
        operations[f"receive.{received.name}"] = operation
    for sent in SENT:
        key = f"server.{sent.name}"
        channel = sent.audience  # the channels are named after the audiences
        operation = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel}"},
            "summary": sent.summary,
            "messages": [add(channel, key, _sent_message(sent))],
        }
        if not sent.sent:
            operation["x-eliza-sent"] = False
        operations[f"send.{sent.name}"] = operation
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "eliza realtime (ElizaOS Socket.IO protocol)",
            "version": __version__,
            "description": "The Socket.IO events of the ElizaOS protocol this server speaks. "
                           "Each message is one event: its `name` is the event name, its "
                           "payload the event's one argument. The HTTP API is described "
                           "at /api/openapi.json.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _received_message(event: ReceivedEvent) -> dict[str, Any]:
    message: dict[str, Any] = {"name": event.name, "summary": event.summary}
    if event.payload is None:
        message["description"] = "Emitted without an argument."
    else:
        message["payload"] = dict(event.payload)
    return message


def _sent_message(event: SentEvent) -> dict[str, Any]:
    message: dict[str, Any] = {"name": event.name, "summary": event.summary,
                               "payload": dict(event.payload)}
    if event.description:
        message["description"] = event.description
    return message
