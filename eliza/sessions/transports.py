"""How a session send answers (1.7 transports, reference Appendix A): `websocket` returns at
once (the reply arrives on the socket), `http` waits for the agent's reply, `sse` streams
`user_message`, `chunk`..., then `done` (or `error`) as Server-Sent Events.

Every wait is bounded by `reply_deadline`; the SSE bus subscription is bounded too, and a
stream that falls behind ends with an `error` event rather than growing a queue.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import trio

from ..bus import MessageComplete, MessageStreamChunk, NewMessage, Subscription
from ..clock import iso
from ..errors import AgentTurnFailed, ApiError
from .errors import SessionValidationError

if TYPE_CHECKING:
    from .service import SessionService

TRANSPORTS = frozenset({"websocket", "http", "sse"})
LEGACY_MODES = {"sync": "http", "stream": "sse", "websocket": "websocket"}
MAX_REPLY_WAIT = 60.0  # seconds; the agent's turn deadline may shorten it
SSE_QUEUE = 512  # bus events buffered for one stream (chunks are small and frequent)


def transport_of(body: dict[str, Any]) -> str:
    """`transport`, else the legacy `mode` (sync/stream/websocket); websocket by default."""
    transport = body.get("transport")
    if transport is not None:
        if not isinstance(transport, str) or transport not in TRANSPORTS:
            raise SessionValidationError(
                f"Invalid transport '{transport}'. Must be one of: http, sse, websocket")
        return str(transport)
    mode = body.get("mode")
    if mode is not None:
        if not isinstance(mode, str) or mode not in LEGACY_MODES:
            raise SessionValidationError(
                f"Invalid mode '{mode}'. Must be one of: sync, stream, websocket")
        return LEGACY_MODES[str(mode)]
    return "websocket"


def reply_deadline(service: SessionService) -> float:
    turn = service.settings.turn_timeout
    return min(MAX_REPLY_WAIT, turn) if turn > 0 else MAX_REPLY_WAIT


def agent_content(*, message_id: str, text: str, raw: Any, author_id: str, channel_id: str,
                  created_at: int, in_reply_to: str | None) -> dict[str, Any]:
    """The agent's reply as ElizaOS Content (`text`, `thought`, `actions`) plus its ids."""
    raw = raw if isinstance(raw, dict) else {}
    return {"text": text, "thought": raw.get("thought"), "actions": raw.get("actions"),
            "id": message_id, "messageId": message_id, "authorId": author_id,
            "channelId": channel_id, "inReplyTo": in_reply_to, "createdAt": iso(created_at)}


async def wait_for_agent(service: SessionService, row: dict[str, Any],
                         user_message_id: str, watching: Subscription | None = None,
                         ) -> dict[str, Any] | None:
    """transport http: the agent's reply as Content, or None if none came in time.
    `watching`: `MessagingService.watch_replies()`, opened before the message was posted."""
    reply = await service.messaging.wait_for_reply(
        row["channel_id"], user_message_id, within=reply_deadline(service),
        author_id=row["agent_id"], watching=watching)
    if reply is None:
        return None
    return agent_content(
        message_id=reply["id"], text=reply["content"], raw=reply.get("rawMessage"),
        author_id=reply["authorId"], channel_id=reply["channelId"],
        created_at=reply["created_at"], in_reply_to=reply.get("inReplyToRootMessageId"))


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def sse_stream(service: SessionService, row: dict[str, Any], content: str,
                     attachments: list[Any] | None, metadata: dict[str, Any],
                     session_status: dict[str, Any]) -> AsyncIterator[bytes]:
    """transport sse. The subscription opens before the message is stored, so no chunk of
    the reply can be missed. Chunks are the agent's MessageStreamChunk events in this
    channel; a model that does not stream gives one chunk with the whole reply before
    `done`. Cancel scopes never span a `yield` (each receive has its own, to one deadline)."""
    bus = service.bus
    channel_id, agent_id = row["channel_id"], row["agent_id"]
    deadline = trio.current_time() + reply_deadline(service)
    with bus.subscribe(f"session-sse:{row['id']}",
                       {NewMessage.name, MessageStreamChunk.name, MessageComplete.name},
                       capacity=SSE_QUEUE) as sub:
        try:
            posted = await service.post(row, content, attachments, metadata)
        except ApiError as exc:
            yield sse("error", {"error": exc.message, "code": exc.code})
            return
        user_id = posted.message["id"]
        yield sse("user_message", {**posted.message, "sessionStatus": session_status})
        streamed: set[str] = set()
        # Replies by this agent to other messages (an earlier send still being answered):
        # their chunks are not ours once we know them.
        foreign: set[str] = set()
        while True:
            event = None
            with trio.move_on_at(deadline):
                try:
                    event = await sub.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    break
            if event is None:
                yield sse("error", {"error": "Timed out waiting for the agent's response",
                                    "code": "TIMEOUT"})
                return
            if isinstance(event, MessageStreamChunk):
                ours = (event.in_reply_to == user_id if event.in_reply_to is not None
                        else event.message_id not in foreign)
                if event.channel_id == channel_id and event.agent_id == agent_id and ours:
                    streamed.add(event.message_id)
                    yield sse("chunk", {"messageId": event.message_id, "chunk": event.chunk,
                                        "index": event.index})
                continue
            if isinstance(event, MessageComplete):
                if (event.error is not None and event.in_reply_to == user_id
                        and event.agent_id == agent_id):
                    yield sse("error", {"error": event.error, "code": AgentTurnFailed.code})
                    return
                continue
            assert isinstance(event, NewMessage)
            msg = event.message
            if msg["channel_id"] != channel_id or msg["author_id"] != agent_id:
                continue
            if msg.get("in_reply_to_message_id") != user_id:
                foreign.add(msg["id"])
                continue
            if msg["id"] not in streamed:
                yield sse("chunk", {"messageId": msg["id"], "chunk": msg["content"],
                                    "index": 0})
            yield sse("done", agent_content(
                message_id=msg["id"], text=msg["content"], raw=msg.get("raw_message"),
                author_id=agent_id, channel_id=channel_id, created_at=msg["created_at"],
                in_reply_to=user_id))
            return
    # Only reached when the bus cut the subscription off (it fell SSE_QUEUE events behind).
    yield sse("error", {"error": "The event stream fell behind", "code": "STREAM_OVERFLOW"})
