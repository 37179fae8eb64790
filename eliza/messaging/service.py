"""The messaging service: the ONE way a message enters the system.

Every entry point (REST, Socket.IO, sessions, agents' replies) calls `post_message`, which
validates, commits the message and publishes exactly one `NewMessage`, so one stored message
is one bus event and one turn per participating agent. A replay
of a client's message id returns the stored message and publishes nothing, so it causes no
second agent turn. Channel and server operations live in `channels.ChannelOps`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from .. import ids
from ..bus import (
    MessageBus,
    MessageComplete,
    MessageDeleted,
    MessageRoute,
    MessageStreamChunk,
    NewMessage,
    Subscription,
    message_struct,
)
from ..clock import now_ms
from ..errors import AgentTurnFailed, BadRequest, ChannelNotFound, InvalidId, NotFound
from ..media.urls import attachments_to_urls
from ..store import message_servers as sq
from ..store import messaging as mq
from ..store import owed
from .channels import ChannelOps, auto_channel
from .shapes import message_json

if TYPE_CHECKING:
    from ..runtime.ports import AgentDirectory, ReplyRecorder, TurnFailure
    from ..settings import Settings
    from ..store import Store


REPLY_WATCH = 256  # bus events a reply waiter buffers before it is cut off and resubscribes
# A reply, or the news that the agent's turn failed.
REPLY_EVENTS = frozenset({NewMessage.name, MessageComplete.name})


@dataclass(frozen=True)
class Posted:
    """The outcome of `post_message`: the stored row as the API shows it (camelCase plus
    snake_case keys), the bus structure, and whether it was new (False for a replay)."""

    message: dict[str, Any]
    struct: dict[str, Any]
    created: bool
    channel: dict[str, Any]
    # The running agents the message was routed to: each takes it in now and decides
    # whether to answer (empty for a replay, or when no running agent takes part).
    recipients: frozenset[str] = frozenset()


def _uuid(value: Any, what: str) -> str:
    valid = ids.validate_uuid(value)
    if valid is None:
        raise InvalidId(f"Invalid {what} format")
    return valid


def _published_json(struct: dict[str, Any]) -> dict[str, Any]:
    """What `get_message` reads back for a message just published (a NewMessage is only
    published for a newly stored message, whose `updated_at` is its `created_at`), without
    reading it back: the bus structure carries every stored column."""
    row = {**struct, "in_reply_to_root_message_id": struct.get("in_reply_to_message_id"),
           "updated_at": struct["created_at"]}
    return message_json(row, struct["message_server_id"])


class MessagingService(ChannelOps):
    """Messages, channels and message servers. Implements the runtime's `Replies` port."""

    def __init__(
        self, store: Store, bus: MessageBus, settings: Settings, agents: AgentDirectory
    ) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.agents = agents
        # Reply waits listening now: after a bus gap they look in the store again.
        self._waiting: set[Subscription] = set()
        bus.on_gap(self._recheck_waits)
        # Commit order and publish order must agree, so agents see a channel's messages in
        # the order they are stored; the store serialises writes anyway, so this costs little.
        self._order = trio.Lock()

    async def post_message(
        self,
        *,
        channel_id: str,
        author_id: str,
        content: str,
        message_server_id: str | None = None,
        source_type: str | None = None,
        raw_message: Any = None,
        metadata: dict[str, Any] | None = None,
        in_reply_to: str | None = None,
        source_id: str | None = None,
        message_id: str | None = None,
        idempotency_key: str | None = None,
        create_channel: bool = True,
        also: Callable[[Any, dict[str, Any]], None] | None = None,
        origin: str | None = None,
    ) -> Posted:
        """Store one message and publish it once. A missing channel is auto-created (DM when
        `metadata.isDm`/`channelType == "DM"`, as the original ElizaOS server does for a post to
        an unknown channel) unless `create_channel` is
        False (then 404 CHANNEL_NOT_FOUND). Raises BadRequest/InvalidId/NotFound.

        `also(db, stored_row)` runs in the same write transaction after the message is
        stored (an agent's turn records its memory of the reply and its run log there), so
        it commits, or rolls back, with the message and before the NewMessage is published.
        `origin` tags the published event with the connection the message came from (a
        Socket.IO sid), so the realtime hub does not echo it back; it is not stored."""
        channel_id = _uuid(channel_id, "channel ID")
        author_id = _uuid(author_id, "author_id")
        if not isinstance(content, str) or not content.strip():
            raise BadRequest("content is required and must be a non-empty string")
        if in_reply_to is not None:
            in_reply_to = _uuid(in_reply_to, "in_reply_to_message_id")
        if message_id is not None:
            message_id = _uuid(message_id, "messageId")
        server_id = _uuid(message_server_id or ids.DEFAULT_SERVER_ID, "message_server_id")
        if metadata is not None and not isinstance(metadata, dict):
            raise BadRequest("metadata must be an object")
        meta = self._with_media_urls(dict(metadata or {}))
        if isinstance(raw_message, dict):
            raw_message = self._with_media_urls(dict(raw_message))
        now = now_ms()
        row = {
            "id": message_id or ids.new_uuid(),
            "channel_id": channel_id,
            "author_id": author_id,
            "content": content,
            "raw_message": raw_message if raw_message is not None else {"text": content},
            "in_reply_to_root_message_id": in_reply_to,
            "source_type": source_type or "eliza_gui",
            "source_id": source_id,
            "metadata": meta,
            "idempotency_key": str(idempotency_key) if idempotency_key else None,
            "created_at": now,
            "updated_at": now,
        }

        # Every agent, read under the order lock just before the write: those that take part
        # in the channel owe the message (running or not: a stopped agent answers it when it
        # starts), recorded in the transaction that stores it, and it is routed to them.
        known: set[str] = set()

        def write(db: Any) -> tuple[dict[str, Any], dict[str, Any], bool, list[str],
                                     Callable[[], None] | None]:
            channel = mq.get_channel(db, channel_id)
            if channel is None:
                if not create_channel:
                    raise ChannelNotFound("Channel not found")
                if sq.get_server(db, server_id) is None:
                    raise NotFound(f"Server {server_id} does not exist")
                channel, members = auto_channel(channel_id, server_id, author_id, meta, now)
                mq.insert_channel(db, channel, members)
                channel = mq.get_channel(db, channel_id)
                assert channel is not None
            if in_reply_to is not None and mq.get_message(db, in_reply_to) is None:
                row["in_reply_to_root_message_id"] = None  # unknown parent: keep the message
            stored, created = mq.insert_message(db, row)
            if also is not None:
                also(db, stored)
            owing: list[str] = []
            publish = None
            if created:
                owing = mq.channel_agents(db, channel_id, channel["message_server_id"], known)
                owed.owe(db, stored["id"], stored["created_at"], owing)
                # Sent in this transaction where the bus can (a PostgreSQL NOTIFY is
                # delivered at COMMIT, with the row visible): never lost after the commit.
                publish = self.bus.stage(db, NewMessage(
                    message_struct(stored, channel["message_server_id"]),
                    route=MessageRoute(frozenset(owing), channel), origin=origin))
            return channel, stored, created, owing, publish

        async with self._order:
            known.update(self.agents.agent_ids())
            known.discard(author_id)
            channel, stored, created, owing, publish = await self.store.write(write)
            struct = message_struct(stored, channel["message_server_id"])
            if publish is not None:
                publish()
        return Posted(message_json(stored, channel["message_server_id"]), struct, created,
                      channel, frozenset(a for a in owing if self.agents.is_running(a)))

    def _with_media_urls(self, holder: dict[str, Any]) -> dict[str, Any]:
        """Attachments that are paths of stored media become their `/media/...` URLs
        before the message is stored, so no client, broadcast or agent
        ever sees a server path."""
        if holder.get("attachments"):
            holder["attachments"] = attachments_to_urls(holder["attachments"], self.settings)
        return holder

    # -- reading ------------------------------------------------------------------------

    async def messages_since(self, since_ms: int, limit: int) -> list[dict[str, Any]]:
        """The bus structures of the messages stored from `since_ms` on, oldest first (what
        a worker replays after its bus missed events)."""
        rows = await self.store.read(mq.messages_since, since_ms, limit)
        return [message_struct(row, server) for row, server in rows]

    async def get_message(self, message_id: str) -> dict[str, Any]:
        message_id = _uuid(message_id, "message ID")
        row = await self.store.read(mq.get_message, message_id)
        if row is None:
            raise NotFound("Message not found")
        channel = await self.store.read(mq.get_channel, row["channel_id"])
        return message_json(row, channel["message_server_id"] if channel else None)

    async def list_messages(
        self,
        channel_id: str,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; `before`/`after` are exclusive epoch-ms bounds."""
        channel_id = _uuid(channel_id, "channel ID")
        rows = await self.store.read(
            lambda db: mq.messages_for_channel(db, channel_id, limit=limit, before=before,
                                               after=after)
        )
        return [message_json(r) for r in rows]

    def iter_messages(
        self,
        channel_id: str,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        page_bytes: int = mq.PAGE_BYTES,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """`list_messages` in batches, in the same order: the store is read a page at a time
        (a page stops at `page_bytes` of text), so no listing is ever held whole. The id is
        checked now, before the first batch is asked for."""
        channel_id = _uuid(channel_id, "channel ID")

        async def batches() -> AsyncIterator[list[dict[str, Any]]]:
            below: mq.Key | None = None
            if after is not None and before is None:  # paging forward: the oldest `limit`
                below = await self.store.read(mq.forward_page_end, channel_id, after, limit)
            left = limit
            while left > 0:
                rows, below = await self.store.read(partial(
                    mq.message_page, count=left, before=before, after=after, below=below,
                    max_bytes=page_bytes), channel_id)
                left -= len(rows)
                batch = [message_json(r) for r in rows]
                del rows  # while suspended below, hold only what the consumer may drop
                if batch:
                    yield batch
                    del batch
                if below is None:
                    return

        return batches()

    async def _recheck_waits(self, since_ms: int) -> None:
        for sub in list(self._waiting):
            sub.overflowed = True  # ends it: its wait subscribes again and reads the store
            sub.close()

    def watch_replies(self, name: str) -> Subscription:
        """A subscription for `wait_for_reply(..., watching=)`: opened BEFORE the message
        is posted, it sees every reply, so the wait needs no look in the store."""
        return self.bus.subscribe(f"wait:{name}", REPLY_EVENTS, capacity=REPLY_WATCH)

    async def wait_for_reply(
        self, channel_id: str, message_id: str, *, within: float, author_id: str | None = None,
        watching: Subscription | None = None,
    ) -> dict[str, Any] | None:
        """The first stored reply to `message_id` in the channel (optionally by `author_id`),
        waiting up to `within` seconds; None on timeout; AgentTurnFailed when the agent
        took the message in and its turn failed (heard while waiting). Subscribes before
        looking in the store, so a reply published in between is not missed; with
        `watching` (from `watch_replies`, opened before the message was posted) it only
        listens. A subscription that falls behind the bus is replaced, and the store is
        looked at again, so a busy bus never passes for a timeout."""
        sub = watching
        with trio.move_on_after(within if within > 0 else math.inf):
            while True:
                if sub is None:
                    sub = self.bus.subscribe(f"wait:{message_id}", REPLY_EVENTS,
                                             capacity=REPLY_WATCH)
                    row = await self.store.read(mq.find_reply, channel_id, message_id)
                    if row is not None and (author_id is None or row["author_id"] == author_id):
                        sub.close()
                        return message_json(row)
                self._waiting.add(sub)
                try:
                    with sub:
                        found = await _next_reply(sub, channel_id, message_id, author_id)
                finally:
                    self._waiting.discard(sub)
                if found is not None:
                    return found
                sub = None  # it overflowed: subscribe again and look in the store
        return None

    # -- changing messages ----------------------------------------------------------------

    async def update_message(self, message_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Patch a message (None keeps a field). No bus event: ElizaOS emits none either.
        Every field is checked before the write, so a refused patch changes nothing."""
        message_id = _uuid(message_id, "message id")
        _check_patch(patch)
        patch = {key: self._with_media_urls(dict(value)) if key in ("metadata", "raw_message")
                 and isinstance(value, dict) else value for key, value in patch.items()}
        row = await self.store.write(mq.update_message, message_id, patch, now_ms())
        if row is None:
            raise NotFound("Message not found")
        channel = await self.store.read(mq.get_channel, row["channel_id"])
        return message_json(row, channel["message_server_id"] if channel else None)

    async def delete_message(self, channel_id: str, message_id: str) -> bool:
        """Delete one message; publishes MessageDeleted when it existed."""
        channel_id = _uuid(channel_id, "channel ID")
        message_id = _uuid(message_id, "message ID")
        deleted = await self.store.write(mq.delete_message, message_id)
        if deleted:
            self.bus.publish(MessageDeleted(message_id=message_id, channel_id=channel_id))
        return deleted

    # -- the runtime's Replies port ------------------------------------------------------------

    async def post_reply(
        self,
        *,
        channel_id: str,
        agent_id: str,
        content: str,
        message_server_id: str,
        raw_message: dict[str, Any],
        metadata: dict[str, Any],
        in_reply_to: str,
        message_id: str,
        record: ReplyRecorder,
    ) -> None:
        await self.post_message(
            channel_id=channel_id, author_id=agent_id, content=content,
            message_server_id=message_server_id, source_type="agent_response",
            raw_message=raw_message, metadata=metadata, in_reply_to=in_reply_to,
            message_id=message_id, create_channel=False, also=record,
        )

    def complete(self, channel_id: str, message_server_id: str | None = None, *,
                 failure: TurnFailure | None = None) -> None:
        """Tell clients the agent finished with the channel (socket `messageComplete`), and
        why it could not answer when its turn failed."""
        server_id = message_server_id or ids.DEFAULT_SERVER_ID
        if failure is None:
            self.bus.publish(MessageComplete(channel_id=channel_id, message_server_id=server_id))
            return
        self.bus.publish(MessageComplete(
            channel_id=channel_id, message_server_id=server_id, agent_id=failure.agent_id,
            agent_name=failure.agent_name, in_reply_to=failure.message_id,
            error=failure.reason))

    def stream_chunk(
        self, *, message_id: str, channel_id: str, agent_id: str, chunk: str, index: int,
        in_reply_to: str | None = None,
    ) -> None:
        self.bus.publish(MessageStreamChunk(
            message_id=message_id, channel_id=channel_id, agent_id=agent_id, chunk=chunk,
            index=index, in_reply_to=in_reply_to,
        ))


_PATCH_TYPES: dict[str, tuple[type, ...]] = {
    "content": (str,), "metadata": (dict,), "raw_message": (dict, str), "source_type": (str,),
}


def _check_patch(patch: dict[str, Any]) -> None:
    """The types the stored row and every reader of it rely on (a metadata that is not an
    object would break the message, its channel listing and search)."""
    for key, kinds in _PATCH_TYPES.items():
        value = patch.get(key)
        if value is not None and not isinstance(value, kinds):
            problem = "must be an object" if kinds == (dict,) else "has the wrong type"
            raise BadRequest(f"{key} {problem}", details={"field": key, "problem": problem})
    content = patch.get("content")
    if content is not None and not content.strip():
        raise BadRequest("content must be a non-empty string",
                         details={"field": "content", "problem": "must be a non-empty string"})
    for key in ("author_id", "in_reply_to_root_message_id"):
        if patch.get(key) is not None:
            patch[key] = _uuid(patch[key], key)


async def _next_reply(sub: Subscription, channel_id: str, message_id: str,
                      author_id: str | None) -> dict[str, Any] | None:
    """The reply among the subscription's events; None when the subscription ended (it
    overflowed, or was closed). Raises AgentTurnFailed when the turn answering it failed."""
    async for event in sub:
        if isinstance(event, MessageComplete):
            if (event.error is not None and event.in_reply_to == message_id
                    and event.channel_id == channel_id
                    and (author_id is None or event.agent_id == author_id)):
                raise AgentTurnFailed(event.error, details={"agentId": event.agent_id})
            continue
        assert isinstance(event, NewMessage)
        msg = event.message
        if (msg["channel_id"] == channel_id
                and msg.get("in_reply_to_message_id") == message_id
                and (author_id is None or msg["author_id"] == author_id)):
            return _published_json(msg)
    return None
