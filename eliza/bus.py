"""The in-process message bus: typed events fanned out to bounded trio memory channels.

`publish` never blocks and never waits on a subscriber. A subscriber that falls `capacity`
events behind is cut off: its subscription ends with `overflowed` set, and its owner decides
what that means (a socket is disconnected and may reconnect; an agent re-subscribes and
catches up from the store). One slow subscriber therefore never stalls the others.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, ClassVar

import trio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base of every bus event; `name` is the ElizaOS event name."""

    name: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NewMessage(Event):
    """A message was stored in a channel. `message` is the ElizaOS MessageServiceStructure
    (snake_case: id, channel_id, message_server_id, server_id, author_id, content, ...)."""

    name: ClassVar[str] = "new_message"
    message: dict[str, Any]

    @property
    def channel_id(self) -> str:
        return str(self.message["channel_id"])


@dataclass(frozen=True)
class MessageDeleted(Event):
    name: ClassVar[str] = "message_deleted"
    message_id: str
    channel_id: str


@dataclass(frozen=True)
class ChannelCleared(Event):
    name: ClassVar[str] = "channel_cleared"
    channel_id: str


@dataclass(frozen=True)
class ChannelUpdated(Event):
    name: ClassVar[str] = "channel_updated"
    channel_id: str
    updates: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelDeleted(Event):
    name: ClassVar[str] = "channel_deleted"
    channel_id: str


@dataclass(frozen=True)
class ServerAgentUpdate(Event):
    name: ClassVar[str] = "server_agent_update"
    type: str  # agent_added_to_server | agent_removed_from_server
    message_server_id: str
    agent_id: str


@dataclass(frozen=True)
class MessageComplete(Event):
    name: ClassVar[str] = "message_complete"
    channel_id: str
    message_server_id: str


@dataclass(frozen=True)
class MessageStreamChunk(Event):
    name: ClassVar[str] = "message_stream_chunk"
    message_id: str
    channel_id: str
    agent_id: str
    chunk: str
    index: int


EVENT_TYPES: tuple[type[Event], ...] = (
    NewMessage,
    MessageDeleted,
    ChannelCleared,
    ChannelUpdated,
    ChannelDeleted,
    ServerAgentUpdate,
    MessageComplete,
    MessageStreamChunk,
)
EVENT_NAMES: frozenset[str] = frozenset(t.name for t in EVENT_TYPES)


class Subscription:
    """One subscriber's bounded queue. Iterate it; it ends when closed or overflowed."""

    def __init__(self, bus: MessageBus, name: str, events: frozenset[str], capacity: int) -> None:
        self.bus = bus
        self.name = name
        self.events = events
        self.overflowed = False
        self._send, self._receive = trio.open_memory_channel[Event](capacity)

    def offer(self, event: Event) -> None:
        if event.name not in self.events:
            return
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self.overflowed = True
            log.warning("bus subscriber %r fell behind and was cut off", self.name)
            self.close()
        except trio.ClosedResourceError:
            self.bus.unsubscribe(self)

    def close(self) -> None:
        self.bus.unsubscribe(self)
        self._send.close()

    async def receive(self) -> Event:
        return await self._receive.receive()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._receive.__aiter__()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        self._receive.close()


class MessageBus:
    """Publish/subscribe within one process. Cross-process fan-out would be another backend
    with the same two methods."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self.published = 0

    def subscribe(
        self, name: str, events: Collection[str] | None = None, *, capacity: int = 1024
    ) -> Subscription:
        chosen = EVENT_NAMES if events is None else frozenset(events)
        unknown = chosen - EVENT_NAMES
        if unknown:
            raise ValueError(f"unknown bus events: {sorted(unknown)}")
        sub = Subscription(self, name, chosen, capacity)
        self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def publish(self, event: Event) -> None:
        self.published += 1
        for sub in tuple(self._subscriptions):
            sub.offer(event)

    def statistics(self) -> dict[str, int]:
        return {"subscribers": len(self._subscriptions), "published": self.published}
