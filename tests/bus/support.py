"""What the shared-bus tests share: a Redis server of the test's own (to kill and restart),
a PostgreSQL schema with the core migrations, buses running in a nursery, and waiting for
what a subscription receives."""

from __future__ import annotations

import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import coredis
import trio

from eliza.bus import AGENT_EVENTS, Event, MessageBus, NewMessage, Subscription
from eliza.bus.postgres import PostgresTransport
from eliza.bus.redis import RedisTransport
from eliza.bus.shared import SharedBus
from eliza.store import core_migrations
from eliza.store.postgres import PgStore
from eliza.testing.live import free_port
from tests.backends import own_schema
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parent.parent.parent
SHARED_REDIS = "redis://127.0.0.1:6379/0"
BEAT = 0.2  # heartbeat interval of the buses under test (seconds): gaps show within 0.6 s


class RedisServer:
    """A redis-server of the test's own on a free port, without persistence (as the
    deployment's Redis may be): `kill()` it, `start()` it again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bus-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        redis_server = shutil.which("redis-server")
        assert redis_server, "these tests start their own redis-server: apt-get install redis"
        self.proc = subprocess.Popen(
            [redis_server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                subprocess.run(["redis-cli", "-p", str(self.port), "ping"], check=True,
                               capture_output=True, timeout=2)
                return
            except subprocess.CalledProcessError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)  # a stopped process dies of it too
            self.proc.wait(5)
            self.proc = None

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing answers (a hung server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def coredis_leaks_expected() -> Iterator[None]:
    """Where Redis goes away under a client: coredis 6.9 leaves the anyio buffers of a
    connection that failed to connect unclosed, and their ResourceWarning would fire at
    some garbage collection, in whatever test runs then. Ignore it for the block and
    collect that garbage before it ends."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


@asynccontextmanager
async def migrated_schema() -> AsyncIterator[str]:
    """A URL of a new schema with the core migrations applied (dropped afterwards)."""
    with own_schema("bus") as (_, url):
        store = PgStore(url, pool_size=2, connect_timeout=5, statement_timeout=5)
        await store.open([core_migrations])
        store.close()
        yield url


def pg_bus(url: str, worker: str | None = None, **options: Any) -> SharedBus:
    transport = PostgresTransport(url, connect_timeout=3, statement_timeout=3)
    return SharedBus(transport, worker or f"w{uuid.uuid4().hex[:8]}",
                     heartbeat_interval=BEAT, startup_timeout=8, **options)


def redis_bus(url: str, stream: str, worker: str | None = None, **options: Any) -> SharedBus:
    transport = RedisTransport(url, stream=stream, timeout=2)
    return SharedBus(transport, worker or f"w{uuid.uuid4().hex[:8]}",
                     heartbeat_interval=BEAT, startup_timeout=8, **options)


@asynccontextmanager
async def running(*buses: MessageBus) -> AsyncIterator[trio.Nursery]:
    """The buses started (connected), stopped when the block ends."""
    async with trio.open_nursery() as nursery:
        for bus in buses:
            await nursery.start(bus.run)
        yield nursery
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def own_stream(url: str = SHARED_REDIS) -> AsyncIterator[str]:
    """A stream name nobody else uses, deleted afterwards (the shared Redis is never
    flushed)."""
    name = f"eliza:test-bus:{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        async with coredis.Redis.from_url(url) as client:
            await client.delete([name])


async def next_event(sub: Subscription, within: float = 5.0) -> Event:
    with trio.fail_after(within):
        return await sub.receive()


def cut_off(sub: Subscription) -> bool:
    """Whether the bus ended `sub` as fallen behind (its owner then catches up)."""
    return sub.overflowed


async def as_an_agent(bus: MessageBus, address: str, within: float = 5.0) -> Event:
    """The next event for agent `address`, received the way an agent does: an inbox that
    ends `overflowed` (a loss was noticed) is opened again."""
    with trio.fail_after(within):
        while True:
            with bus.subscribe(f"agent:{address}", AGENT_EVENTS, address=address) as inbox:
                try:
                    return await inbox.receive()
                except trio.EndOfChannel:
                    assert inbox.overflowed


def publisher_process(kind: str, url: str, stream: str, count: int) -> subprocess.Popen[str]:
    """Another worker, in a process of its own, that publishes `count` messages routed to
    `agent-x` (tests/bus/publisher.py)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.bus.publisher", kind, url, stream, str(count)],
        cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


async def finished(proc: subprocess.Popen[str], within: float = 8.0) -> str:
    """The process's output once it exited with status 0."""
    await wait_until(lambda: proc.poll() is not None, within=within,
                     message="the publishing process to exit")
    out, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    return out


async def publishes_from_a_process(bus: MessageBus, kind: str, url: str, stream: str) -> None:
    """A worker in another process publishes three messages to `agent-x`: `bus` gets them
    in order, from that process."""
    inbox = bus.subscribe("agent:x", AGENT_EVENTS, address="agent-x")
    child = publisher_process(kind, url, stream, 3)
    texts = []
    for _ in range(3):
        got = await next_event(inbox, within=8)
        assert isinstance(got, NewMessage)
        assert got.origin == "child"
        texts.append(got.message["content"])
    assert texts == [f"{child.pid}:{i}" for i in range(3)]
    assert "sent 3" in await finished(child)
