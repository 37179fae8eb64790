"""Bus latency between two worker processes: from `publish` in one to the event arriving
at a subscriber in the other, for each bus `ELIZA_BUS` can name.

    python -m bench.bus_latency [--events 500] [--interval 0.005] [--buses memory,postgres,redis]

This process subscribes; a child process (`--publish`) starts its own bus and publishes
`--events` events, one every `--interval` seconds, each carrying `time.monotonic_ns()` at
publish (one clock for every process on Linux). `memory` cannot cross processes: it is
measured within this one, as the floor. PostgreSQL runs in a fresh schema of
`ELIZA_BENCH_POSTGRES_URL` (core migrations applied, dropped afterwards); Redis uses a
stream of its own at `REDIS_URL` (default the local server), deleted afterwards. Prints
JSON: per bus, n, p50/p99/max in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import coredis
import trio

from bench.stores import postgres_schema
from eliza.bus import InProcessBus, MessageBus, MessageStreamChunk, Subscription
from eliza.bus.postgres import PostgresTransport
from eliza.bus.redis import RedisTransport
from eliza.bus.shared import SharedBus
from eliza.bus.transport import Transport
from eliza.store import core_migrations
from eliza.store.postgres import PgStore

ROOT = Path(__file__).resolve().parent.parent
BUSES = ("memory", "postgres", "redis")


def transport(kind: str, url: str, stream: str) -> Transport:
    return PostgresTransport(url) if kind == "postgres" else RedisTransport(url, stream=stream)


def chunk(index: int) -> MessageStreamChunk:
    return MessageStreamChunk("r1", "c1", "a1", str(time.monotonic_ns()), index)


async def publish_all(bus: MessageBus, events: int, interval: float) -> None:
    for index in range(events):
        bus.publish(chunk(index))
        await trio.sleep(interval)


async def collect(sub: Subscription, events: int, within: float) -> list[float]:
    latencies: list[float] = []
    with trio.move_on_after(within):
        while len(latencies) < events:
            event = await sub.receive()
            assert isinstance(event, MessageStreamChunk)
            latencies.append((time.monotonic_ns() - int(event.chunk)) / 1e6)
    return latencies


def summary(latencies: list[float], events: int) -> dict[str, Any]:
    ordered = sorted(latencies)
    if not ordered:
        return {"n": 0, "expected": events}
    return {"n": len(ordered), "expected": events,
            "p50_ms": round(ordered[len(ordered) // 2], 3),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
            "max_ms": round(ordered[-1], 3)}


async def child(kind: str, url: str, stream: str, events: int, interval: float) -> None:
    bus = SharedBus(transport(kind, url, stream), f"w-bench-{os.getpid()}")
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        await publish_all(bus, events, interval)
        for _ in range(1000):  # until the sender sent them all, 10 s at most
            if bus.statistics()["sent"] >= events:
                break
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def across_processes(kind: str, url: str, stream: str, events: int,
                           interval: float) -> dict[str, Any]:
    bus = SharedBus(transport(kind, url, stream), "w-bench-parent")
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        sub = bus.subscribe("bench", [MessageStreamChunk.name], capacity=events + 10)
        command = [sys.executable, "-m", "bench.bus_latency", "--publish", kind, url, stream,
                   str(events), str(interval)]
        proc: trio.Process = await nursery.start(partial(
            trio.run_process, command, cwd=ROOT, check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)}))
        latencies = await collect(sub, events, within=30 + events * interval)
        with trio.fail_after(30):
            await proc.wait()
        nursery.cancel_scope.cancel()
    return {**summary(latencies, events), "sender_exit": proc.returncode}


async def in_process(events: int, interval: float) -> dict[str, Any]:
    bus = InProcessBus()
    sub = bus.subscribe("bench", [MessageStreamChunk.name], capacity=events + 10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(publish_all, bus, events, interval)
        latencies = await collect(sub, events, within=10 + events * interval)
    return {**summary(latencies, events), "note": "within one process"}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for kind in args.buses.split(","):
        if kind == "memory":
            results[kind] = await in_process(args.events, args.interval)
        elif kind == "postgres":
            with postgres_schema("bus") as (_, url):
                store = PgStore(url, pool_size=1)
                await store.open([core_migrations])
                store.close()
                results[kind] = await across_processes(kind, url, "-", args.events,
                                                       args.interval)
        elif kind == "redis":
            url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
            stream = f"eliza:bench-bus:{uuid.uuid4().hex[:8]}"
            try:
                results[kind] = await across_processes(kind, url, stream, args.events,
                                                       args.interval)
            finally:
                async with coredis.Redis.from_url(url) as client:
                    await client.delete([stream])
        else:
            raise SystemExit(f"unknown bus {kind!r}: {', '.join(BUSES)}")
    return {"events": args.events, "interval_s": args.interval, "results": results}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--publish"]:
        kind, url, stream, events, interval = sys.argv[2:7]
        trio.run(child, kind, url, stream, int(events), float(interval))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--interval", type=float, default=0.005)
    parser.add_argument("--buses", default=",".join(BUSES))
    print(json.dumps(trio.run(main, parser.parse_args()), indent=2))
