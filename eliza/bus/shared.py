"""`SharedBus`: the message bus of a deployment of several worker processes.

Each worker keeps an `InProcessBus` for its own subscribers. `publish` delivers there at
once and hands the encoded event to a sender task through a bounded queue, so it never
blocks; a full queue drops the event, logs it and counts it. A *transport* (PostgreSQL
LISTEN/NOTIFY, Redis Streams) carries frames (`eliza.bus.wire`) between workers; what
arrives from another worker is published locally, a worker's own frames are skipped.

Nothing may be lost silently. The sender adds a heartbeat to its frames every
`heartbeat_interval`; when this worker's own heartbeat does not come back within three
intervals, or a connection fails, a *gap* begins: events of other workers may be missing.
When a heartbeat sent after that comes back, every addressed subscription (the agents'
inboxes) ends with `overflowed` set, so its owner re-reads from the store what it owes,
and each `on_gap` handler runs with the epoch ms at which the gap may have begun. Frames
also carry the sender's sequence numbers, so events another worker failed to send (its
queue was full, its connection broke) start the same recovery where they are missed.

`addresses()` lists this worker's addressed subscriptions only: an agent runs in one
worker, and that worker is the one whose inbox the bus feeds.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import partial

import trio

from .. import metrics
from ..errors import ServiceUnavailable, StartupError
from .events import Event
from .local import InProcessBus, LocalSubscription
from .transport import Batch, SqlTransaction, Transport
from .wire import WireError, decode_event, encode_event, frame, parse_frame

log = logging.getLogger(__name__)

GapHandler = Callable[[int], Awaitable[None]]
SILENT_HEARTBEATS = 3  # heartbeats missed before a gap begins
BATCH_EVENTS = 512  # events the sender takes from its queue at once
PEER_MEMORY_SECONDS = 600.0  # a worker not heard from for this long is forgotten


@dataclass
class _Gap:
    since_ms: int
    began: float  # trio time of the last sign of health before it
    mark: int  # heartbeats sent before it began: a later one ends it
    reason: str


@dataclass
class _Peer:
    next_seq: int
    last_ms: int
    seen: float


@dataclass
class _Handler:
    fn: GapHandler
    pending: int | None = None
    running: bool = False


@dataclass
class _Counters:
    sent: int = 0
    received: int = 0
    dropped: int = 0  # events this worker could not send (queue full, send failed)
    lost: int = 0  # events other workers sent that never arrived here
    gaps: int = 0
    undecodable: int = 0
    dropping: int = 0  # drops since the queue last accepted (for one log line per episode)
    logged: set[str] = field(default_factory=set)


class SharedBus:
    """The `MessageBus` shared by the workers of a deployment, over `transport`."""

    def __init__(self, transport: Transport, worker_id: str, *, heartbeat_interval: float = 1.0,
                 queue_size: int = 10_000, startup_timeout: float = 15.0) -> None:
        self.transport = transport
        self.worker_id = worker_id
        self.heartbeat_interval = heartbeat_interval
        self.startup_timeout = startup_timeout
        self.local = InProcessBus()
        self.counters = _Counters()
        # Bumped when heartbeats stop coming back: the transport then drops its
        # connections and connects again (read from its threads too).
        self.reconnects = 0
        self._outbox_send, self._outbox = trio.open_memory_channel[str](queue_size)
        self._nonces = itertools.count()
        self._next_seq = 0
        self._pending_loss = 0
        self._hb_sent = 0
        self._heartbeat_due = 0.0
        self._healthy_at = 0.0
        self._healthy_ms = 0
        self._last_reconnect = 0.0
        self._gap: _Gap | None = None
        self._peers: dict[str, _Peer] = {}
        self._handlers: list[_Handler] = []
        self._heard_self = trio.Event()
        self._fault: str | None = None
        self._nursery: trio.Nursery | None = None

    # -- the MessageBus interface ----------------------------------------------------------

    @property
    def published(self) -> int:
        """Events published in this worker: its own and those received from the others."""
        return self.local.published

    def publish(self, event: Event) -> None:
        item = encode_event(event)  # a TypeError here is the publisher's: nothing was sent
        self.local.publish(event)
        try:
            self._outbox_send.send_nowait(item)
        except trio.WouldBlock:
            self._drop(1)

    def subscribe(self, name: str, events: Collection[str] | None = None, *,
                  capacity: int = 1024, address: str | None = None) -> LocalSubscription:
        return self.local.subscribe(name, events, capacity=capacity, address=address)

    def addresses(self) -> list[str]:
        """The addresses subscribed in this worker (not in the others)."""
        return self.local.addresses()

    def statistics(self) -> dict[str, int]:
        c = self.counters
        return {**self.local.statistics(), "sent": c.sent, "received": c.received,
                "dropped": c.dropped, "lost": c.lost, "gaps": c.gaps,
                "undecodable": c.undecodable, "in_gap": int(self._gap is not None),
                "queued": self._outbox.statistics().current_buffer_used}

    def stage(self, db: SqlTransaction, event: Event) -> Callable[[], None]:
        """Called inside the transaction that stores `event`'s row (in that transaction's
        thread); returns what the caller runs after the commit."""
        text = frame(self.worker_id, [encode_event(event)], sent_ms=_now_ms(),
                     nonce=next(self._nonces))
        if self.transport.stage(db, text):
            return partial(self._deliver_staged, event)
        return partial(self.publish, event)

    def on_gap(self, handler: GapHandler) -> None:
        """Run `await handler(since_ms)` after each gap, once the bus is healthy again
        (`since_ms`: epoch ms from which events may be missing). A handler that raises is
        logged and run again, with backoff, until it succeeds."""
        self._handlers.append(_Handler(handler))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Connect and serve until cancelled. Started once this worker's first heartbeat
        came back; a StartupError when it did not within `startup_timeout`."""
        if self._nursery is not None:
            raise RuntimeError("the bus already runs")
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._heartbeat_due = trio.current_time()
            nursery.start_soon(self.transport.run, self)
            with trio.move_on_after(self.startup_timeout):
                await self._heard_self.wait()
            if self._heard_self.is_set():
                log.info("%s bus connected (worker %s)", self.transport.name, self.worker_id)
                nursery.start_soon(self._watch)
                task_status.started()
            else:
                nursery.cancel_scope.cancel()
        # Raised out here, so the server reports it as one line, not as a group.
        raise StartupError(f"the {self.transport.name} bus did not answer within "
                           f"{self.startup_timeout:g}s: {self._fault or 'no reply'}")

    # -- the transport side ----------------------------------------------------------------

    async def next_batch(self) -> Batch:
        """The next frames to send: what is queued (waiting until something is, or the
        next heartbeat is due), the heartbeat on the last frame when due."""
        items: list[str] = []
        with trio.move_on_at(self._heartbeat_due):
            items.append(await self._outbox.receive())
        while len(items) < BATCH_EVENTS:
            try:
                items.append(self._outbox.receive_nowait())
            except trio.WouldBlock:
                break
        if self.counters.dropping:
            log.warning("%s bus: the send queue accepts events again; %d were dropped",
                        self.transport.name, self.counters.dropping)
            self.counters.dropping = 0
        heartbeat = None
        now = trio.current_time()
        if now >= self._heartbeat_due:
            self._hb_sent += 1
            heartbeat = self._hb_sent
            self._heartbeat_due = now + self.heartbeat_interval
        return self._frames(items, heartbeat)

    def sent(self, events: int) -> None:
        self.counters.sent += events

    def send_failed(self, events: int, reason: str) -> None:
        """`events` taken from the queue were not sent (the others see the hole in the
        sequence numbers)."""
        if events:
            self.counters.dropped += events
            log.warning("%s bus: %d events could not be sent: %s", self.transport.name,
                        events, reason)
        self.link_failed(reason)

    def send_refused(self, events: int, reason: str) -> None:
        """The broker refused a frame (not the connection's fault): its events are dropped,
        and the others see the hole in the sequence numbers."""
        self.counters.dropped += events
        log.error("%s bus: %d events were refused: %s", self.transport.name, events, reason)

    def link_failed(self, reason: str) -> None:
        """A connection failed: events of other workers may be missing from now on."""
        if not self._heard_self.is_set():
            if reason != self._fault:
                log.warning("%s bus: cannot connect yet: %s", self.transport.name, reason)
            self._fault = reason
            return
        self._fault = reason
        self._begin_gap(reason)

    def lost(self, reason: str, since_ms: int) -> None:
        """Events from `since_ms` on are known to be missing (a large event's row was gone,
        a stream restarted): recover at once, or when the current gap ends."""
        log.warning("%s bus: events lost: %s", self.transport.name, reason)
        self.counters.lost += 1
        if self._gap is not None:
            self._gap.since_ms = min(self._gap.since_ms, since_ms)
        else:
            self.counters.gaps += 1
            self._recover(since_ms)

    def take(self, texts: Sequence[str]) -> None:
        """Frames received: publish other workers' events here; note our own heartbeats."""
        for text in texts:
            try:
                got = parse_frame(text)
            except WireError as exc:
                self._undecodable(exc)
                continue
            if got.worker == self.worker_id:
                if got.heartbeat is not None:
                    self._heard(got.heartbeat)
                continue
            if got.seq is not None:
                self._sequence(got.worker, got.seq, len(got.events), got.sent_ms)
            for item in got.events:
                try:
                    event = decode_event(item)
                except WireError as exc:
                    self._undecodable(exc)
                    continue
                self.counters.received += 1
                self.local.publish(event)

    # -- inside ------------------------------------------------------------------------------

    def _frames(self, items: list[str], heartbeat: int | None) -> Batch:
        self._next_seq += self._pending_loss
        self._pending_loss = 0
        limit = self.transport.max_frame_bytes
        groups: list[list[str]] = []
        size = limit
        for item in items:
            n = len(item) + 1  # ASCII: characters are bytes
            if size + n > limit:
                groups.append([])
                size = 200  # the frame's head
            groups[-1].append(item)
            size += n
        if not groups:
            groups.append([])
        now = _now_ms()
        frames = []
        for index, group in enumerate(groups):
            last = index == len(groups) - 1
            frames.append((frame(self.worker_id, group, seq=self._next_seq, sent_ms=now,
                                 heartbeat=heartbeat if last else None), len(group)))
            self._next_seq += len(group)
        return Batch(frames)

    def _drop(self, events: int) -> None:
        if not self.counters.dropping:
            log.warning("%s bus: the send queue is full (%d events); dropping events until "
                        "it drains", self.transport.name, self._outbox.statistics().max_buffer_size)
        self.counters.dropping += events
        self.counters.dropped += events
        self._pending_loss += events

    def _deliver_staged(self, event: Event) -> None:
        self.counters.sent += 1
        self.local.publish(event)

    def _undecodable(self, exc: WireError) -> None:
        self.counters.undecodable += 1
        message = str(exc)
        if message not in self.counters.logged and len(self.counters.logged) < 100:
            self.counters.logged.add(message)
            log.error("%s bus: skipped what another worker sent: %s (logged once)",
                      self.transport.name, message)

    def _sequence(self, worker: str, seq: int, events: int, sent_ms: int | None) -> None:
        now_ms = _now_ms()
        if sent_ms is not None:  # clocks of other hosts may differ: never below zero
            metrics.BUS_LAG.observe(max(0, now_ms - sent_ms) / 1000)
        peer = self._peers.get(worker)
        if peer is not None and seq > peer.next_seq:
            missing = seq - peer.next_seq
            self.counters.lost += missing
            if self._gap is not None:
                self._gap.since_ms = min(self._gap.since_ms, peer.last_ms)
            else:
                log.warning("%s bus: %d events of worker %s never arrived",
                            self.transport.name, missing, worker)
                self.counters.gaps += 1
                self._recover(peer.last_ms)
        if peer is None or seq >= peer.next_seq:
            self._peers[worker] = _Peer(seq + events, sent_ms or now_ms, trio.current_time())

    def _heard(self, heartbeat: int) -> None:
        gap = self._gap
        if gap is not None and heartbeat <= gap.mark:
            return  # sent before the gap began: it proves nothing about now
        self._healthy_at = trio.current_time()
        self._healthy_ms = _now_ms()
        self._heard_self.set()
        if gap is not None:
            self._gap = None
            log.warning("%s bus: gap ended after %.1f s (%s); addressed subscribers catch up "
                        "from the store", self.transport.name, self._healthy_at - gap.began,
                        gap.reason)
            self._recover(gap.since_ms)

    def _begin_gap(self, reason: str) -> None:
        if self._gap is not None:
            return
        self.counters.gaps += 1
        self._gap = _Gap(self._healthy_ms, self._healthy_at, self._hb_sent, reason)
        log.warning("%s bus: gap began: %s; events of other workers may be missing until "
                    "this worker's heartbeat comes back", self.transport.name, reason)

    def _recover(self, since_ms: int) -> None:
        cut = self.local.cut_off_addressed()
        if cut:
            log.warning("%s bus: %d addressed subscriptions ended to catch up from the store",
                        self.transport.name, cut)
        for handler in self._handlers:
            handler.pending = since_ms if handler.pending is None else min(handler.pending,
                                                                           since_ms)
            if not handler.running and self._nursery is not None:
                handler.running = True
                self._nursery.start_soon(self._run_handler, handler)

    async def _run_handler(self, handler: _Handler) -> None:
        delay = 0.5
        try:
            while handler.pending is not None:
                since, handler.pending = handler.pending, None
                try:
                    await handler.fn(since)
                except Exception as exc:
                    # An outage of the store is logged once by the store itself; a
                    # traceback per retry would only bury that line.
                    expected = isinstance(exc, ServiceUnavailable)
                    log.log(logging.WARNING if expected else logging.ERROR,
                            "bus gap handler %r failed (%s); running it again in %.1f s",
                            handler.fn, exc, delay, exc_info=not expected)
                    handler.pending = since if handler.pending is None else min(
                        handler.pending, since)
                    await trio.sleep(delay)
                    delay = min(delay * 2, 30.0)
        finally:
            handler.running = False

    async def _watch(self) -> None:
        """Start a gap (and reconnect) when our heartbeats stop coming back."""
        while True:
            await trio.sleep(self.heartbeat_interval / 2)
            now = trio.current_time()
            if now - max(self._healthy_at, self._last_reconnect) > (
                    SILENT_HEARTBEATS * self.heartbeat_interval):
                self._begin_gap(f"no heartbeat came back for {now - self._healthy_at:.1f} s")
                self.reconnects += 1
                self._last_reconnect = now
            for worker in [w for w, p in self._peers.items()
                           if now - p.seen > PEER_MEMORY_SECONDS]:
                del self._peers[worker]


def _now_ms() -> int:
    return int(time.time() * 1000)
