"""The log stream under a burst of log lines from other threads: the entries waiting to be
streamed are bounded (the oldest are dropped and counted), a subscriber gets the newest
ones, and the whole burst costs one hand-over to the trio thread, not one per line.

The app runs in-process (its lifespan, hence the realtime hub, running) and the subscriber
is a Socket.IO client over Engine.IO polling through Quart's test client.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from conftest import make_settings, open_app
from eliza.realtime import log_stream as log_stream_module
from eliza.realtime.hub import RealtimeHub
from eliza.realtime.log_stream import LOG_QUEUE

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"
# A queue smaller than a socket's outbox (256 packets), so the streamed backlog fits in it.
SMALL_QUEUE = 100
PROBE = "log-queue-probe"  # agentName of the burst's entries, to tell them from other lines


@dataclass
class PollingSocket:
    """A Socket.IO client on Engine.IO polling, driven by hand; keeps every event."""

    client: Any
    sid: str = ""
    events: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{HANDSHAKE}&sid={self.sid}"

    async def open(self) -> None:
        response = await self.client.get(HANDSHAKE)
        self.sid = json.loads((await response.get_data(as_text=True))[1:])["sid"]
        await self.send("40" + json.dumps({"entityId": str(uuid.uuid4())}))
        await self.until("connection_established")

    async def send(self, packet: str) -> None:
        response = await self.client.post(self.url, data=packet)
        assert await response.get_data(as_text=True) == "ok"

    async def poll(self) -> None:
        response = await self.client.get(self.url)
        text = await response.get_data(as_text=True)
        assert response.status_code == 200, text
        for packet in text.split("\x1e"):
            if packet.startswith("42"):
                name, *args = json.loads(packet[2:])
                self.events.append((name, args[0] if args else None))
            elif packet == "1":  # the server closed the session
                self.events.append(("<closed>", None))

    async def until(self, name: str, match: Any = lambda data: True) -> Any:
        with trio.fail_after(10):
            while True:
                for seen, data in self.events:
                    if seen == name and match(data):
                        return data
                if any(seen == "<closed>" for seen, _ in self.events):
                    raise AssertionError(f"session closed before {name!r}: {self.events[-5:]}")
                await self.poll()


class CountingToken:
    """The hub's trio token, counting the callbacks handed to the trio thread."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self.token = token
        self.scheduled = 0

    def run_sync_soon(self, fn: Any, *args: Any, **kw: Any) -> None:
        self.scheduled += 1
        self.token.run_sync_soon(fn, *args, **kw)


async def subscribed(app: Any) -> tuple[RealtimeHub, PollingSocket]:
    hub: RealtimeHub = app.app.config["ELIZA_SERVER"].realtime
    sock = PollingSocket(app.test_client())
    await sock.open()
    await sock.send('42["subscribe_logs"]')
    await sock.until("log_subscription_confirmed")
    # Let anything already scheduled run first, so a burst starts from an empty queue.
    await trio.testing.wait_all_tasks_blocked()
    return hub, sock


def burst_while_trio_is_blocked(hub: RealtimeHub, lines: int) -> int:
    """Log `lines` lines from another thread while the trio thread is blocked (the thread is
    joined synchronously, not awaited): nothing can be streamed until the burst ends, the
    case where entries would pile up. Returns how many entries the hub then held."""
    probe = logging.getLogger("tests.log_queue")
    held: list[int] = []

    def burst() -> None:
        for i in range(lines):
            probe.warning("line %d", i, extra={"agent_name": PROBE})
        held.append(len(hub.log_stream.queue))

    thread = threading.Thread(target=burst)
    thread.start()
    thread.join()
    return held[0]


def streamed_lines(sock: PollingSocket) -> list[str]:
    return [data["payload"]["msg"] for name, data in sock.events
            if name == "log_stream" and data["payload"].get("agentName") == PROBE]


async def test_a_burst_from_another_thread_streams_the_newest_entries_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_stream_module, "LOG_QUEUE", SMALL_QUEUE)
    lines = SMALL_QUEUE * 5
    async with open_app(make_settings(tmp_path)) as app:
        hub, sock = await subscribed(app)
        counting = CountingToken(trio.lowlevel.current_trio_token())
        hub.log_stream.token = counting  # type: ignore[assignment]  # the seam to count hand-overs
        dropped_before = hub.log_stream.dropped
        held = burst_while_trio_is_blocked(hub, lines)
        await sock.until("log_stream", lambda d: d["payload"]["msg"] == f"line {lines - 1}")
        assert held == SMALL_QUEUE  # the memory held while nothing could be streamed
        assert streamed_lines(sock) == [f"line {i}" for i in range(lines - SMALL_QUEUE, lines)]
        assert hub.log_stream.dropped - dropped_before == lines - SMALL_QUEUE
        assert counting.scheduled == 1  # one drain for the whole burst


async def test_a_subscriber_survives_a_full_log_queue(tmp_path: Path) -> None:
    # With the default sizes: a backlog as large as the queue allows is streamed to the
    # subscriber at once, and must not overflow its connection (which would drop it).
    async with open_app(make_settings(tmp_path)) as app:
        hub, sock = await subscribed(app)
        lines = LOG_QUEUE + 10
        burst_while_trio_is_blocked(hub, lines)
        await sock.until("log_stream", lambda d: d["payload"]["msg"] == f"line {lines - 1}")
        assert streamed_lines(sock)[-1] == f"line {lines - 1}"
