"""Fan-out over the real server: 200 Socket.IO clients in one channel all get every
broadcast, and one client that stops reading is dropped without slowing the others.

The clients are raw websocket clients (bench/fanout.py's `RawClient`: Engine.IO v4 /
Socket.IO v5 text frames over `/socket.io/?EIO=4&transport=websocket`), all in this trio
process; the messages are posted by REST to a GROUP channel with no agent in it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import pytest
import trio
import trio_websocket

from bench.fanout import (
    ProtocolFailure,
    RawClient,
    create_group_channel,
    open_raw_client,
    percentile,
    post_message,
)
from conftest import LiveServer

pytestmark = pytest.mark.slow  # 200 websocket clients

CLIENTS = 200
CONNECTS_AT_ONCE = 50
# Flood messages in flight at once (posted but not yet received by every healthy client):
# the healthy clients keep up, the stalled one falls further behind with every message.
WINDOW = 16
MAX_FLOOD = 2000  # the stalled client must have been dropped well before this
AFTER_DROP = 30  # messages posted after the drop, to show the others carry on
DELIVERY_DEADLINE = 5.0  # seconds for a message to reach every healthy client
LATENCY_P99_LIMIT_MS = 1500.0


@dataclass
class Fleet:
    """What the healthy clients received: per message text, who has it and when."""

    size: int
    received: list[dict[str, float]] = field(default_factory=list)
    order: list[list[str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    everyone: dict[str, trio.Event] = field(default_factory=dict)
    posted_at: dict[str, float] = field(default_factory=dict)
    joined: int = 0
    all_joined: trio.Event = field(default_factory=trio.Event)

    def expect(self, text: str) -> trio.Event:
        event = self.everyone[text] = trio.Event()
        self.counts.setdefault(text, 0)
        return event

    def record(self, index: int, text: str) -> None:
        self.received[index][text] = trio.current_time()
        self.order[index].append(text)
        self.counts[text] = self.counts.get(text, 0) + 1
        if self.counts[text] == self.size and text in self.everyone:
            self.everyone[text].set()

    def latencies_ms(self, texts: list[str]) -> list[float]:
        return [(got[text] - self.posted_at[text]) * 1000
                for got in self.received for text in texts if text in got]


async def _healthy_client(url: str, channel_id: str, index: int, fleet: Fleet,
                          gate: trio.Semaphore) -> None:
    """Connect and join (at most `gate` at a time), then record broadcasts until cancelled."""
    await gate.acquire()
    released = False
    try:
        async with open_raw_client(url) as client:
            await client.join(channel_id)
            gate.release()
            released = True
            fleet.joined += 1
            if fleet.joined == fleet.size:
                fleet.all_joined.set()
            while True:
                event, data = await client.next_event()
                if event == "messageBroadcast" and data.get("channelId") == channel_id:
                    fleet.record(index, str(data["text"]))
    finally:
        if not released:
            gate.release()


async def _post(http: httpx.AsyncClient, fleet: Fleet, channel_id: str, author: str,
                text: str) -> str:
    fleet.expect(text)
    fleet.posted_at[text] = trio.current_time()
    return await post_message(http, channel_id, author, text)


async def _server_log(server: LiveServer) -> str:
    return await trio.to_thread.run_sync(server.log)


async def _drain(stalled: RawClient) -> tuple[int, str]:
    """Read what the stalled client's socket still holds; returns (broadcasts, how it ended)."""
    count = 0
    with trio.fail_after(20):
        try:
            while True:
                event, _ = await stalled.next_event()
                count += event == "messageBroadcast"
        except trio_websocket.ConnectionClosed as exc:
            return count, f"closed {exc.reason.code if exc.reason else None}"
        except ProtocolFailure as exc:
            return count, f"protocol {exc}"


async def test_fanout_to_200_clients_with_a_stalled_one(live_server: LiveServer) -> None:
    url = live_server.url
    author = str(uuid.uuid4())
    fleet = Fleet(CLIENTS, received=[{} for _ in range(CLIENTS)],
                  order=[[] for _ in range(CLIENTS)])
    async with httpx.AsyncClient(base_url=url, timeout=30) as http, trio.open_nursery() as nursery:
        channel_id = await create_group_channel(http, author, "fan-out")
        gate = trio.Semaphore(CONNECTS_AT_ONCE)
        for index in range(CLIENTS):
            nursery.start_soon(_healthy_client, url, channel_id, index, fleet, gate)
        # The stalled client: joined, then never reads again. A small receive buffer and no
        # client-side queue make the server feel it within a few hundred messages.
        async with open_raw_client(url, message_queue_size=0, receive_buffer=4096) as stalled:
            await stalled.join(channel_id)
            with trio.fail_after(30):
                await fleet.all_joined.wait()

            # 1. Every client gets every broadcast, in order.
            first = [f"hello {i}" for i in range(5)]
            for text in first:
                await _post(http, fleet, channel_id, author, text)
            with trio.fail_after(DELIVERY_DEADLINE * 2):
                for text in first:
                    await fleet.everyone[text].wait()
            for order in fleet.order:
                assert order[:5] == first
            baseline = fleet.latencies_ms(first)

            # 2. Flood until the stalled client's outbox overflows, then some more; the
            # healthy clients must keep receiving everything within the deadline.
            eio_sid = stalled.handshake["sid"]
            dropped_line = f"Engine.IO session {eio_sid}: outbox full"
            flood: list[str] = []
            dropped_at: int | None = None
            for i in range(MAX_FLOOD):
                text = f"flood {i}"
                flood.append(text)
                await _post(http, fleet, channel_id, author, text)
                if i >= WINDOW:
                    with trio.fail_after(DELIVERY_DEADLINE):
                        await fleet.everyone[flood[i - WINDOW]].wait()
                if dropped_at is None and i % 25 == 24 and dropped_line in await _server_log(
                        live_server):
                    dropped_at = i
                if dropped_at is not None and i >= dropped_at + AFTER_DROP:
                    break
            assert dropped_at is not None, "the stalled client was never disconnected"
            with trio.fail_after(DELIVERY_DEADLINE):
                for text in flood:
                    await fleet.everyone[text].wait()

            log = await _server_log(live_server)
            assert log.count("outbox full") == 1, "only the stalled client may be dropped"
            for order in fleet.order:
                assert order == first + flood
            latencies = fleet.latencies_ms(flood)
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            print(f"\nfan-out: {CLIENTS} clients, {len(flood)} flood messages "
                  f"(stalled client dropped after ~{dropped_at}); latency ms: "
                  f"baseline p50 {percentile(baseline, 50):.1f}, flood p50 {p50:.1f} "
                  f"p99 {p99:.1f} max {max(latencies):.1f}")
            assert p99 < LATENCY_P99_LIMIT_MS

            # 3. The stalled client's socket was closed by the server, short of the flood.
            got, ending = await _drain(stalled)
            assert got < len(first) + len(flood), ending
            assert ending.startswith(("closed", "protocol")), ending
        nursery.cancel_scope.cancel()
