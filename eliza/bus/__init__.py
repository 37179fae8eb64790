"""The message bus: what every part of the server hears about messages and channels.

`MessageBus` and `Subscription` are the interface the services use; `InProcessBus` is the
implementation for one process. A bus shared by several processes implements the same
protocol: `publish` stays synchronous and never blocks (such a backend hands the event to
a sender task through a bounded queue), and a subscription is a bounded stream of events
that ends, with `overflowed` set, when its reader falls too far behind.

Delivery: a `NewMessage` with a `route` reaches only the subscriptions whose `address` (an
agent id) the route names; every other event reaches every subscription that asked for its
name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from types import TracebackType
from typing import Protocol, Self

from .events import (
    AGENT_EVENTS,
    EVENT_NAMES,
    EVENT_TYPES,
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    Event,
    MessageComplete,
    MessageDeleted,
    MessageRoute,
    MessageStreamChunk,
    NewMessage,
    ServerAgentUpdate,
    message_struct,
)
from .local import InProcessBus


class Subscription(Protocol):
    """One subscriber's bounded stream of events. Iterate it; it ends when closed or when
    the subscriber fell behind (`overflowed`)."""

    name: str
    overflowed: bool

    def close(self) -> None: ...

    async def receive(self) -> Event: ...

    def receive_nowait(self) -> Event:
        """The next queued event; raises trio.WouldBlock when none is queued."""
        ...

    def __aiter__(self) -> AsyncIterator[Event]: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class MessageBus(Protocol):
    """Publish/subscribe of bus events, with addressed delivery of routed messages."""

    @property
    def published(self) -> int:
        """How many events were published through this bus."""
        ...

    def publish(self, event: Event) -> None:
        """Deliver `event` to its subscribers without blocking or waiting on any of them."""
        ...

    def subscribe(
        self,
        name: str,
        events: Collection[str] | None = None,
        *,
        capacity: int = 1024,
        address: str | None = None,
    ) -> Subscription:
        """A bounded subscription to `events` (all when None). With `address` (an agent id),
        a routed `NewMessage` reaches it only when its route names that address."""
        ...

    def addresses(self) -> list[str]:
        """The addresses (agent ids) that have a subscription now."""
        ...

    def statistics(self) -> dict[str, int]: ...


__all__ = [
    "AGENT_EVENTS",
    "EVENT_NAMES",
    "EVENT_TYPES",
    "ChannelCleared",
    "ChannelDeleted",
    "ChannelUpdated",
    "Event",
    "InProcessBus",
    "MessageBus",
    "MessageComplete",
    "MessageDeleted",
    "MessageRoute",
    "MessageStreamChunk",
    "NewMessage",
    "ServerAgentUpdate",
    "Subscription",
    "message_struct",
]
