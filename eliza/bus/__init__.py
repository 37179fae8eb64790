"""The message bus: what every part of the server hears about messages and channels.

`MessageBus` and `Subscription` are the interface the services use; `InProcessBus` is the
implementation for one process. A bus shared by several processes implements the same
protocol: `publish` stays synchronous and never blocks (such a backend hands the event to
a sender task through a bounded queue), and a subscription is a bounded stream of events
that ends, with `overflowed` set, when its reader falls too far behind.

Delivery: a `NewMessage` with a `route` reaches only the subscriptions whose `address` (an
agent id) the route names; every other event reaches every subscription that asked for its
name.

`SharedBus` (`eliza.bus.shared`) is the bus of several workers, over PostgreSQL
LISTEN/NOTIFY (`eliza.bus.postgres`) or Redis Streams (`eliza.bus.redis`); `bus_for` picks
the one `ELIZA_BUS` names. Its lifecycle is the protocol's too: the server starts `run` in
its nursery before anything subscribes, calls `stage` inside the transaction that stores
an event's row, and registers `on_gap` handlers for what a gap between workers may have
cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from types import TracebackType
from typing import Protocol, Self

import trio

from .choose import bus_for
from .events import (
    AGENT_EVENTS,
    ALL_EVENT_TYPES,
    CONTROL_NAMES,
    EVENT_NAMES,
    EVENT_TYPES,
    AgentChanged,
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    Event,
    LeaseReleased,
    LogRecords,
    MessageComplete,
    MessageDeleted,
    MessageRoute,
    MessageStreamChunk,
    NewMessage,
    ServerAgentUpdate,
    WorkerJoined,
    message_struct,
)
from .local import InProcessBus
from .shared import SharedBus
from .transport import SqlTransaction, Transport
from .wire import WireError, decode, encode


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

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Connect and serve until cancelled (`nursery.start` it before anything
        subscribes); started once events from other workers can arrive."""
        ...

    def stage(self, db: SqlTransaction, event: Event) -> Callable[[], None]:
        """Call inside the write transaction `db` that stores `event`'s row; run what it
        returns after the commit (never after a rollback). Where the bus can send inside
        the transaction (PostgreSQL), the other workers get the event only if it commits,
        with its row visible, and the callable delivers it in this worker; elsewhere the
        callable publishes it."""
        ...

    def on_gap(self, handler: Callable[[int], Awaitable[None]]) -> None:
        """Run `await handler(since_ms)` after events of other workers may have been
        missed, once the bus is healthy again (`since_ms`: epoch ms from which events may
        be missing). Addressed subscriptions have ended `overflowed` by then."""
        ...


__all__ = [
    "AGENT_EVENTS",
    "ALL_EVENT_TYPES",
    "CONTROL_NAMES",
    "EVENT_NAMES",
    "EVENT_TYPES",
    "AgentChanged",
    "ChannelCleared",
    "ChannelDeleted",
    "ChannelUpdated",
    "Event",
    "InProcessBus",
    "LeaseReleased",
    "LogRecords",
    "MessageBus",
    "MessageComplete",
    "MessageDeleted",
    "MessageRoute",
    "MessageStreamChunk",
    "NewMessage",
    "ServerAgentUpdate",
    "SharedBus",
    "SqlTransaction",
    "Subscription",
    "Transport",
    "WireError",
    "WorkerJoined",
    "bus_for",
    "decode",
    "encode",
    "message_struct",
]
