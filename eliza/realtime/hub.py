"""The ElizaOS realtime protocol on top of the Socket.IO server: the events the web UI and
the published clients send (join a channel, send a message, subscribe to logs) and the ones
they listen for (broadcasts, acks, stream chunks, `messageComplete`, log entries).

Inbound chat goes through the one messaging service; outbound broadcasts come from the bus,
so a message stored by REST, a session or an agent reaches the channel's room the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import trio

from .. import ids
from ..bus import (
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    Event,
    MessageComplete,
    MessageDeleted,
    MessageStreamChunk,
    NewMessage,
)
from ..clock import now_ms
from ..errors import ApiError
from ..security.middleware import api_key_matches
from .catchup import BroadcastMemory, replay_missed
from .events import ROOM_JOINING, SEND_MESSAGE
from .log_stream import LogStream
from .socketio import AuthError, Socket, SocketIOServer

if TYPE_CHECKING:
    from ..bus import MessageBus
    from ..logs import LogBuffer
    from ..messaging import MessagingService
    from ..settings import Settings

log = logging.getLogger(__name__)

HUB_BUS_CAPACITY = 4096
# As for a REST body: JSON nested deeper than this is refused (docs/api.md, Errors).
MAX_DEPTH = 64


class RealtimeHub:
    """Owns the SocketIOServer and translates between it and the bus."""

    def __init__(
        self, bus: MessageBus, messaging: MessagingService, settings: Settings, logs: LogBuffer
    ) -> None:
        self.bus = bus
        self.messaging = messaging
        self.settings = settings
        self.logs = logs
        self.sio = SocketIOServer(
            authenticate=self._authenticate,
            ping_interval=settings.socket_ping_interval,
            ping_timeout=settings.socket_ping_timeout,
            cors_origin=settings.cors_origin,
        )
        self.log_stream = LogStream(self.sio)
        # What this worker broadcast lately, so a replay after a bus gap repeats nothing.
        self.broadcast = BroadcastMemory()
        bus.on_gap(self._replay_missed)
        sio = self.sio
        sio.on_connect(self._on_connect)
        sio.on_disconnect(self._on_disconnect)
        sio.on("message")(self._on_message)
        sio.on(str(ROOM_JOINING))(self._on_join)
        sio.on(str(SEND_MESSAGE))(self._on_send)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.log_stream.token = trio.lowlevel.current_trio_token()
        self.logs.add_listener(self.log_stream.on_log_entry)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.sio.run)
                await nursery.start(self._forward_bus)
                task_status.started()
        finally:
            self.logs.remove_listener(self.log_stream.on_log_entry)

    # -- connection ---------------------------------------------------------------------

    async def _authenticate(
        self, auth: dict[str, Any] | None, headers: Mapping[str, str]
    ) -> dict[str, Any]:
        auth = auth or {}
        token = self.settings.auth_token
        if token:
            key = auth.get("apiKey")
            # The handshake's headers arrive joined ("a, b") when the key is repeated.
            supplied = [key] if isinstance(key, str) and key else [
                value.strip() for value in (headers.get("x-api-key") or "").split(",")
                if value.strip()]
            if not api_key_matches(token.encode(), supplied):
                raise AuthError("Unauthorized: invalid or missing API key")
        # As the original: the client names itself; a missing or malformed id is refused.
        entity_id = auth.get("entityId")
        if not ids.is_uuid(entity_id):
            raise AuthError("Valid entityId required")
        return {"entityId": entity_id}

    async def _on_connect(self, sock: Socket) -> None:
        sock.emit("authenticated", {"entityId": sock.data["entityId"], "timestamp": now_ms()})
        sock.emit(
            "connection_established",
            {"message": "Connected to Eliza Socket.IO server", "socketId": sock.sid},
        )

    async def _on_disconnect(self, sock: Socket) -> None:
        self.log_stream.forget(sock.sid)

    # -- chat -----------------------------------------------------------------------------

    async def _on_message(self, sock: Socket, data: Any = None, *_: Any) -> dict[str, Any] | None:
        """The UI's `message` event; its result is the ack for clients that ask for one
        (`emitWithAck` / `call`), as for the events "1" and "2"."""
        if not isinstance(data, dict):
            return None
        payload = data.get("payload") or {}
        if not isinstance(payload, dict):
            return None
        kind = data.get("type")
        if kind in (ROOM_JOINING, str(ROOM_JOINING)):
            return await self._on_join(sock, payload)
        if kind in (SEND_MESSAGE, str(SEND_MESSAGE)):
            return await self._on_send(sock, payload)
        return None

    async def _on_join(self, sock: Socket, payload: Any = None, *_: Any) -> dict[str, Any]:
        """Join the channel's room; returns the ack for clients that asked for one."""
        payload = payload if isinstance(payload, dict) else {}
        channel_id = payload.get("channelId") or payload.get("roomId")
        channel_id = ids.validate_uuid(channel_id) or channel_id  # the room REST posts reach
        if not isinstance(channel_id, str) or not channel_id:
            error = "channelId is required for joining."
            sock.emit("messageError", {"error": error})
            return {"success": False, "error": error}
        self.sio.enter_room(sock.sid, channel_id)
        joined: dict[str, Any] = {
            "message": f"Socket {sock.sid} successfully joined channel {channel_id}.",
            "channelId": channel_id,
            "roomId": channel_id,
        }
        if ids.is_uuid(payload.get("agentId")):
            joined["agentId"] = payload["agentId"]
        sock.emit("channel_joined", joined)
        sock.emit("room_joined", joined)
        return {"success": True, **joined}

    async def _on_send(self, sock: Socket, payload: Any = None, *_: Any) -> dict[str, Any]:
        """Store the message (one bus event), echo it to the sender with its client id, ack.
        Returns the ack for clients that asked for one."""
        payload = payload if isinstance(payload, dict) else {}
        # Ids in lower case, as the REST routes store them, so the rooms line up.
        channel_id = ids.validate_uuid(payload.get("channelId") or payload.get("roomId"))
        sender_id = ids.validate_uuid(str(payload.get("senderId") or sock.data.get("entityId")))
        error = self._send_error(payload, channel_id, sender_id)
        if error is not None or channel_id is None or sender_id is None:
            error = error or "channelId, a valid senderId and a non-empty message are required"
            sock.emit("messageError", {"error": error})
            return {"success": False, "error": error}
        text = payload["message"]
        server_id = (
            payload.get("messageServerId")
            or payload.get("serverId")
            or payload.get("message_server_id")
            or payload.get("server_id")
            or ids.DEFAULT_SERVER_ID
        )
        metadata = dict(payload.get("metadata") or {})
        metadata.update(
            user_display_name=payload.get("senderName") or "User",
            messageServerId=server_id,
        )
        if payload.get("attachments"):
            metadata["attachments"] = payload["attachments"]
        client_id = payload.get("messageId")
        try:
            posted = await self.messaging.post_message(
                channel_id=channel_id,
                author_id=sender_id,
                content=text,
                message_server_id=server_id,
                source_type=payload.get("source") or "socketio_client",
                raw_message=payload,
                metadata=metadata,
                idempotency_key=client_id if isinstance(client_id, str) else None,
                origin=sock.sid,
            )
        except ApiError as exc:
            sock.emit("messageError", {"error": exc.message})
            return {"success": False, "error": exc.message}
        self.sio.enter_room(sock.sid, channel_id)
        sock.emit(
            "messageBroadcast", {**broadcast_payload(posted.struct), "clientMessageId": client_id}
        )
        ack = {
            "clientMessageId": client_id,
            "messageId": posted.message["id"],
            "status": "received_by_server_and_processing",
            "channelId": channel_id,
            "roomId": channel_id,
        }
        sock.emit("messageAck", ack)
        return {"success": True, **ack}

    def _send_error(self, payload: dict[str, Any], channel_id: str | None,
                    sender_id: str | None) -> str | None:
        """Why a SEND_MESSAGE payload cannot be stored, or None. Checked before anything
        is written, so a malformed send is a `messageError`, never a dropped handler."""
        text = payload.get("message")
        if channel_id is None or sender_id is None or not isinstance(text, str) or (
                not text.strip()):
            return "channelId, a valid senderId and a non-empty message are required"
        if len(text) > self.settings.max_message_chars:
            return f"message must be at most {self.settings.max_message_chars} characters"
        for key in ("metadata", "attachments", "source", "senderName"):
            value = payload.get(key)
            kind = {"metadata": dict, "attachments": list}.get(key, str)
            if value is not None and not isinstance(value, kind):
                return f"{key} has the wrong type"
        if _deeper_than(payload, MAX_DEPTH):
            return f"the message is nested more than {MAX_DEPTH} levels deep"
        try:  # a lone surrogate anywhere cannot be stored (UTF-8); NaN is refused by the codec
            json.dumps(payload, ensure_ascii=False).encode()
        except (UnicodeEncodeError, ValueError, RecursionError):
            return "the message holds a lone UTF-16 surrogate or cannot be stored"
        return None

    # -- bus -> sockets -------------------------------------------------------------------

    async def _replay_missed(self, since_ms: int) -> None:
        def send(msg: dict[str, Any]) -> None:
            self.broadcast.add(msg["id"])
            self.sio.emit("messageBroadcast", broadcast_payload(msg), room=msg["channel_id"])

        await replay_missed(since_ms, self.messaging.messages_since, self.broadcast, send)

    async def _forward_bus(self, *, task_status: trio.TaskStatus[None]) -> None:
        first = True
        while True:
            with self.bus.subscribe("realtime-hub", capacity=HUB_BUS_CAPACITY) as sub:
                if first:
                    task_status.started()
                    first = False
                async for event in sub:
                    try:
                        self._forward(event)
                    except Exception:  # one bad event must not stop the broadcasts
                        log.exception("could not forward %s to sockets", event.name)
                if not sub.overflowed:
                    return
            log.error("the realtime hub fell behind the bus; resubscribing")

    def _forward(self, event: Event) -> None:
        emit = self.sio.emit
        if isinstance(event, NewMessage):
            msg = event.message
            self.broadcast.add(msg["id"])
            # The sender already got its message back, with its client id, from `_on_send`.
            emit("messageBroadcast", broadcast_payload(msg), room=msg["channel_id"],
                 skip_sid=event.origin)
        elif isinstance(event, MessageComplete):
            complete: dict[str, Any] = {
                "channelId": event.channel_id,
                "roomId": event.channel_id,
                "serverId": event.message_server_id,
                "messageServerId": event.message_server_id,
            }
            if event.error is not None:
                stream_error, notice = failure_events(event)
                emit("messageStreamError", stream_error, room=event.channel_id)
                emit("messageBroadcast", notice, room=event.channel_id)
                complete.update(agentId=event.agent_id, inReplyTo=event.in_reply_to,
                                error=event.error)
            emit("messageComplete", complete, room=event.channel_id)
        elif isinstance(event, MessageStreamChunk):
            emit(
                "messageStreamChunk",
                {
                    "messageId": event.message_id,
                    "chunk": event.chunk,
                    "index": event.index,
                    "agentId": event.agent_id,
                    "channelId": event.channel_id,
                    "roomId": event.channel_id,
                    "inReplyTo": event.in_reply_to,
                },
                room=event.channel_id,
            )
        elif isinstance(event, MessageDeleted):
            emit(
                "messageDeleted",
                {"messageId": event.message_id, "channelId": event.channel_id},
                room=event.channel_id,
            )
        elif isinstance(event, ChannelCleared):
            emit("channelCleared", {"channelId": event.channel_id}, room=event.channel_id)
        elif isinstance(event, ChannelDeleted):
            emit("channelDeleted", {"channelId": event.channel_id}, room=event.channel_id)
        elif isinstance(event, ChannelUpdated):
            emit(
                "channelUpdated",
                {"channelId": event.channel_id, "updates": event.updates},
                room=event.channel_id,
            )


def failure_events(event: MessageComplete) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a channel's sockets hear when an agent could not answer: `messageStreamError`
    for clients that listen for it, and the reason as a message from the agent (not
    stored: it is gone on reload, the run's log keeps it), which the web UI shows in the
    conversation as it shows any agent message (`messageBroadcast`)."""
    # One id per failed message, the same from every worker that forwards the event.
    notice_id = ids.create_unique_uuid(event.agent_id or event.channel_id,
                                       f"{event.in_reply_to}-failed")
    where = {"channelId": event.channel_id, "roomId": event.channel_id}
    return (
        {**where, "messageId": event.in_reply_to, "agentId": event.agent_id,
         "error": event.error},
        {**where, "id": notice_id, "senderId": event.agent_id,
         "senderName": event.agent_name or "Agent", "text": event.error,
         "serverId": event.message_server_id, "messageServerId": event.message_server_id,
         "createdAt": now_ms(), "source": "agent_error", "inReplyTo": event.in_reply_to,
         "metadata": {"error": True, "inReplyTo": event.in_reply_to}},
    )


def broadcast_payload(msg: dict[str, Any]) -> dict[str, Any]:
    """`messageBroadcast` for a bus message structure: both channelId and roomId, since
    clients match a broadcast to its channel by either key."""
    metadata = msg.get("metadata") or {}
    raw = msg.get("raw_message") if isinstance(msg.get("raw_message"), dict) else {}
    agent = msg.get("source_type") == "agent_response"
    sender_name = metadata.get("agentName") if agent else metadata.get("user_display_name")
    server_id = msg.get("message_server_id") or msg.get("server_id")
    payload: dict[str, Any] = {
        "id": msg["id"],
        "senderId": msg["author_id"],
        "senderName": sender_name
        or msg.get("author_display_name")
        or ("Agent" if agent else "User"),
        "text": msg["content"],
        "channelId": msg["channel_id"],
        "roomId": msg["channel_id"],
        "serverId": server_id,
        "messageServerId": server_id,
        "createdAt": msg.get("created_at"),
        "source": msg.get("source_type"),
        "metadata": metadata,
    }
    for key in ("thought", "actions"):
        if raw and raw.get(key) is not None:
            payload[key] = raw[key]
    attachments = metadata.get("attachments") or (raw or {}).get("attachments")
    if attachments:
        payload["attachments"] = attachments
    if msg.get("in_reply_to_message_id"):
        payload["inReplyTo"] = msg["in_reply_to_message_id"]
    return payload
def _deeper_than(value: Any, limit: int) -> bool:
    """Whether a decoded JSON value nests more than `limit` levels (iteratively)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1)
                         for child in (item.values() if isinstance(item, dict) else item))
    return False

