"""`InProcessBus`, the bus within one process: typed events fanned out to bounded trio
memory channels.

`publish` never blocks and never waits on a subscriber. A subscriber that falls `capacity`
events behind is cut off: its subscription ends with `overflowed` set, and its owner decides
what that means (a socket is disconnected and may reconnect; an agent re-subscribes and
catches up from the store). One slow subscriber therefore never stalls the others.

Agents subscribe with an `address` (their agent id). A `NewMessage` carrying a `route` (the
messaging service resolves it in the transaction that stores the message) reaches only the
addressed subscriptions of the agents in the route, so one message costs the agents that
take part in its channel, not every running agent. Every other event, and a `NewMessage`
without a route, reaches every subscription that asked for its name.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from functools import partial
from types import TracebackType

import trio

from .events import ALL_EVENT_TYPES, EVENT_NAMES, Event, NewMessage
from .transport import SqlTransaction

log = logging.getLogger(__name__)


class LocalSubscription:
    """One subscriber's bounded queue. Iterate it; it ends when closed or overflowed."""

    def __init__(
        self,
        bus: InProcessBus,
        name: str,
        events: frozenset[str],
        capacity: int,
        address: str | None = None,
    ) -> None:
        self.bus = bus
        self.name = name
        self.events = events
        self.address = address
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

    def receive_nowait(self) -> Event:
        return self._receive.receive_nowait()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._receive.__aiter__()

    def __enter__(self) -> LocalSubscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        self._receive.close()


class InProcessBus:
    """Publish/subscribe within one process (the `MessageBus` of a single-process server)."""

    def __init__(self) -> None:
        # Ordered sets (dicts), so unsubscribing is O(1) and delivery keeps subscribe order.
        self._subscriptions: dict[LocalSubscription, None] = {}
        self._open: dict[str, dict[LocalSubscription, None]] = {n: {} for n in ALL_EVENT_TYPES}
        self._addressed: dict[str, dict[LocalSubscription, None]] = {
            n: {} for n in ALL_EVENT_TYPES}
        self._by_address: dict[str, dict[LocalSubscription, None]] = {}
        self.published = 0
        self.routed = 0  # NewMessages delivered by route, not to every subscription

    def subscribe(
        self,
        name: str,
        events: Collection[str] | None = None,
        *,
        capacity: int = 1024,
        address: str | None = None,
    ) -> LocalSubscription:
        """A bounded subscription to `events` (every ElizaOS event when None; the
        deployment's own events only by name). With `address` (an agent id), a routed
        `NewMessage` reaches it only when the route names that address."""
        chosen = EVENT_NAMES if events is None else frozenset(events)
        unknown = chosen - ALL_EVENT_TYPES.keys()
        if unknown:
            raise ValueError(f"unknown bus events: {sorted(unknown)}")
        sub = LocalSubscription(self, name, chosen, capacity, address)
        self._subscriptions[sub] = None
        index = self._open if address is None else self._addressed
        for event_name in chosen:
            index[event_name][sub] = None
        if address is not None:
            self._by_address.setdefault(address, {})[sub] = None
        return sub

    def unsubscribe(self, sub: LocalSubscription) -> None:
        if self._subscriptions.pop(sub, False) is not False:
            index = self._open if sub.address is None else self._addressed
            for event_name in sub.events:
                index[event_name].pop(sub, None)
            if sub.address is not None:
                subs = self._by_address.get(sub.address)
                if subs is not None:
                    subs.pop(sub, None)
                    if not subs:
                        del self._by_address[sub.address]

    def publish(self, event: Event) -> None:
        self.published += 1
        for sub in tuple(self._open[event.name]):
            sub.offer(event)
        route = event.route if isinstance(event, NewMessage) else None
        if route is None:
            for sub in tuple(self._addressed[event.name]):
                sub.offer(event)
            return
        self.routed += 1
        for address in route.agents:
            for sub in tuple(self._by_address.get(address, ())):
                sub.offer(event)  # skips a subscription that did not ask for NewMessage

    def addresses(self) -> list[str]:
        """The addresses (agent ids) that have a subscription now."""
        return list(self._by_address)

    def cut_off_addressed(self) -> int:
        """End every addressed subscription as if it had fallen behind (`overflowed`), so
        its owner catches up from the store; returns how many ended."""
        subs = [sub for subs in self._by_address.values() for sub in subs]
        for sub in subs:
            sub.overflowed = True
            sub.close()
        return len(subs)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Nothing to connect within one process: started at once."""
        task_status.started()

    def stage(self, db: SqlTransaction, event: Event) -> Callable[[], None]:
        """Nothing to send inside the transaction: the caller publishes after commit."""
        return partial(self.publish, event)

    def on_gap(self, handler: Callable[[int], Awaitable[None]]) -> None:
        """Within one process no event is ever missed: `handler` never runs."""

    def statistics(self) -> dict[str, int]:
        return {"subscribers": len(self._subscriptions), "published": self.published,
                "routed": self.routed}
