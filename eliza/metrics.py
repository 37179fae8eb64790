"""Prometheus metrics: what `GET /api/server/debug/metrics` answers, in the text format.

One process keeps its metrics in memory. Several workers of one host (`eliza serve
--workers N`, or `hypercorn -w N` with `PROMETHEUS_MULTIPROC_DIR` set) each write theirs to
files in that directory, and whichever worker answers the scrape adds up all of them, so a
scrape of any worker describes the whole host. Each host is scraped on its own.

prometheus_client picks its storage when it is first imported, from the environment:
`eliza serve --workers N` sets the directory before it starts its workers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds; the web routes answer in milliseconds, turns and model calls in seconds.
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

REQUESTS = Counter(
    "eliza_http_requests", "HTTP requests answered, by route (its pattern) and status",
    ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "eliza_http_request_duration_seconds", "Time to answer an HTTP request (to its last byte)",
    ["method", "route"], buckets=_FAST)
TURNS = Counter("eliza_agent_turns", "Agent turns, by outcome (ok, failed, timeout)",
                ["outcome"])
TURN_SECONDS = Histogram("eliza_agent_turn_duration_seconds", "Time an agent turn took",
                         buckets=_SLOW)
MODEL_CALLS = Counter("eliza_model_calls", "Model calls, by model type and outcome",
                      ["model_type", "outcome"])
MODEL_SECONDS = Histogram("eliza_model_call_duration_seconds",
                          "Time until a model's handler returns (a stream: until it starts)",
                          ["model_type"], buckets=_SLOW)
SOCKETS = Gauge("eliza_socket_connections", "Open Socket.IO connections",
                multiprocess_mode="livesum")
BUS_LAG = Histogram("eliza_bus_delivery_lag_seconds",
                    "From an event's sending by another worker to its arrival here",
                    buckets=_FAST)
STORE_SECONDS = Histogram("eliza_store_operation_duration_seconds",
                          "Time of a store read or write transaction, waiting included",
                          ["operation"], buckets=_FAST)

STORE_READ = STORE_SECONDS.labels("read")
STORE_WRITE = STORE_SECONDS.labels("write")

UNMATCHED = "unmatched"  # the route label of a request no route took (bounded labels)
ROUTE_KEY = "eliza.route"  # where the route that took a request is noted in its ASGI scope
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def measure_request(scope: MutableMapping[str, Any], send: Send,
                          answer: Callable[[Send], Awaitable[None]]) -> None:
    """Run `answer(send)` for one HTTP request, counting it by route and status and timing
    it. The route is its pattern (`/api/agents/<agent_id>`), noted in the scope by whoever
    matched it, so the labels stay few whatever the paths."""
    started = time.perf_counter()
    status = 500  # what the client gets when the app fails before it answers

    async def send_noting_status(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    try:
        await answer(send_noting_status)
    finally:
        method = scope["method"] if scope["method"] in _METHODS else "other"
        route = scope.get(ROUTE_KEY, UNMATCHED)
        REQUESTS.labels(method, route, str(status)).inc()
        REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)


def exposition() -> bytes:
    """The metrics in the Prometheus text format: this process's, or with a multi-process
    directory, those of every worker writing there."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def prepare_directory(env: dict[str, str]) -> Path | None:
    """For `eliza serve --workers N`: the metrics directory its workers share, emptied (the
    files of an earlier run would count again), named in `env`. Returns the directory to
    remove at exit when it is one of our own (None when the operator named one)."""
    named = env.get(MULTIPROC_ENV)
    if named:
        directory = Path(named)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    own = Path(tempfile.mkdtemp(prefix="eliza-metrics-"))
    env[MULTIPROC_ENV] = str(own)
    return own


def worker_exited(env: dict[str, str], pid: int) -> None:
    """A worker is gone: its live gauges (open sockets) stop counting."""
    directory = env.get(MULTIPROC_ENV)
    if directory:
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def remove_directory(own: Path | None) -> None:
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)
