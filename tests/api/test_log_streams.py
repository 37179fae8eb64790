"""The SSE log streams (`/api/server/logs/stream`, `/api/agents/:agentId/logs/stream`) through
a real server process and a real HTTP client: entries arrive as they are logged, filtered by
level and agent; heartbeats; a client that hangs up is forgotten; a client that reads too
slowly is cut off while the server keeps serving; a stopping server ends the stream cleanly.
And the feed itself: one stream falling behind never holds up another."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import trio
import trio.testing

from conftest import LiveServer
from eliza.log_feed import STREAM_BUFFER, LogFeed
from eliza.logs import LogBuffer, LogEntry
from tests.polling import wait_until_sync

ELIZA = str(Path(sys.executable).with_name("eliza"))


def events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) per SSE event, ("comment", text) per comment line."""
    name, data = "message", []
    for line in lines:
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            yield name, json.loads("\n".join(data))
            name, data = "message", []


def post_logs(url: str, *entries: dict[str, Any]) -> None:
    response = httpx.post(f"{url}/api/server/logs", json={"logs": list(entries)}, timeout=30)
    assert response.status_code == 200, response.text


def next_log(stream: Iterator[tuple[str, Any]]) -> dict[str, Any]:
    for name, data in stream:
        if name == "log":
            return dict(data)
        assert name == "comment", (name, data)
    raise AssertionError("the stream ended")


def open_streams(url: str) -> int:
    state = httpx.get(f"{url}/api/server/debug/state", timeout=10).json()["data"]
    return int(state["connections"]["sseLogStreams"])


def test_server_stream_carries_entries_as_logged_with_filters(live_server: LiveServer) -> None:
    url = live_server.url
    with httpx.Client(timeout=20) as http, http.stream(
            "GET", f"{url}/api/server/logs/stream", params={"level": "warn"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        stream = events(response.iter_lines())
        assert next(stream) == ("comment", "connected")
        post_logs(url, {"msg": "below the level", "level": "info"},
                  {"msg": "first warning", "level": "warn", "agentName": "Scout"},
                  {"msg": "an error", "level": "error"})
        first = next_log(stream)
        assert (first["msg"], first["level"], first["agentName"]) == ("first warning", 40,
                                                                     "Scout")
        assert isinstance(first["time"], int)
        assert next_log(stream)["msg"] == "an error"
        # The same entries as the listing.
        listed = httpx.get(f"{url}/api/server/logs", params={"level": "warn"}).json()["logs"]
        assert first in listed


def test_agent_stream_carries_only_that_agents_entries(live_server: LiveServer) -> None:
    url = live_server.url
    agent = httpx.get(f"{url}/api/agents").json()["data"]["agents"][0]["id"]
    other = "00000000-0000-4000-8000-000000000001"
    with httpx.Client(timeout=20) as http, http.stream(
            "GET", f"{url}/api/agents/{agent}/logs/stream") as response:
        assert response.status_code == 200
        stream = events(response.iter_lines())
        assert next(stream) == ("comment", "connected")
        post_logs(url, {"msg": "someone else's", "level": "info", "agentId": other},
                  {"msg": "nobody's", "level": "info"},
                  {"msg": "mine", "level": "info", "agentId": agent})
        assert next_log(stream)["msg"] == "mine"
    unknown = httpx.get(f"{url}/api/agents/{other}/logs/stream")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "NOT_FOUND")
    bad = httpx.get(f"{url}/api/server/logs/stream", params={"level": "loud"})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["field"] == "level"


def test_heartbeats_and_a_client_that_hangs_up_is_forgotten(live_server: LiveServer) -> None:
    url = live_server.url
    with httpx.Client(timeout=20) as http, http.stream(
            "GET", f"{url}/api/server/logs/stream", params={"heartbeat": "1"}) as response:
        stream = events(response.iter_lines())
        assert next(stream) == ("comment", "connected")
        started = time.monotonic()
        assert next(stream) == ("comment", "heartbeat")
        assert 0.5 < time.monotonic() - started < 5
        assert open_streams(url) == 1
    wait_until_sync(lambda: open_streams(url) == 0, within=10,
                    message="the server to forget the closed stream")
    assert httpx.get(f"{url}/api/server/ping").status_code == 200


def test_a_client_reading_too_slowly_is_cut_off(live_server: LiveServer) -> None:
    url = live_server.url
    big = "x" * 50_000
    with httpx.Client(timeout=30) as http, http.stream(
            "GET", f"{url}/api/server/logs/stream") as response:
        stream = events(response.iter_lines())
        assert next(stream) == ("comment", "connected")
        # Not reading: the socket's buffers fill, then the stream's own buffer.
        for batch in range(25):
            post_logs(url, *({"msg": f"{batch}-{i} {big}", "level": "info"} for i in range(40)))
            assert httpx.get(f"{url}/api/server/ping", timeout=5).status_code == 200
        received, last = 0, None
        for name, data in stream:
            if name == "log":
                received += 1
            elif name != "comment":
                last = (name, data)
        assert last is not None
        assert last[0] == "dropped", last
        assert 0 < received < 1000
    state = httpx.get(f"{url}/api/server/debug/state").json()["data"]
    assert state["queues"]["sseLogStreams"]["cutOff"] == 1
    assert state["connections"]["sseLogStreams"] == 0


class ElizaServe(LiveServer):
    """`eliza serve`: the server that ends its streams as soon as it starts to stop."""

    def command(self) -> list[str]:
        return [ELIZA, "serve", "--port", str(self.port)]


def test_a_stopping_server_ends_the_stream_cleanly(tmp_path: Path) -> None:
    server = ElizaServe(tmp_path / ".eliza")
    server.start()
    try:
        with httpx.Client(timeout=20) as http, http.stream(
                "GET", f"{server.url}/api/server/logs/stream") as response:
            stream = events(response.iter_lines())
            assert next(stream) == ("comment", "connected")
            stopping = threading.Thread(target=server.stop)
            started = time.monotonic()
            stopping.start()
            # Read to the end: the last event, then a complete response (no protocol error).
            seen = [name for name, _ in stream]
            ended_after = time.monotonic() - started
        stopping.join()
        assert seen[-1] == "end", seen
        assert ended_after < 4, ended_after  # before the graceful timeout cuts connections
        assert server.proc is not None
        assert server.proc.returncode == 0, server.log()
    finally:
        server.stop()


async def test_one_stream_falling_behind_never_holds_up_another() -> None:
    logs = LogBuffer()
    feed = LogFeed(logs)
    async with trio.open_nursery() as nursery:
        await nursery.start(feed.run)
        slow = feed.subscribe(lambda entry: True)
        fast = feed.subscribe(lambda entry: True)
        received = []

        async def read_fast() -> None:
            async for entry in fast.receive:
                received.append(entry["msg"])

        nursery.start_soon(read_fast)
        for i in range(STREAM_BUFFER * 3):
            logs.append(LogEntry(time=i, level=30, msg=str(i)))
            # The fast reader keeps up; the slow one never reads.
            await trio.testing.wait_all_tasks_blocked()
        assert received == [str(i) for i in range(STREAM_BUFFER * 3)]
        # The slow one kept what it had buffered, then its stream ended, marked dropped.
        kept = [entry["msg"] async for entry in slow.receive]
        assert kept == [str(i) for i in range(STREAM_BUFFER)]
        assert slow.dropped
        assert (feed.cut_off, feed.subscriptions) == (1, {fast})
        feed.close()
        await trio.testing.wait_all_tasks_blocked()
        assert not fast.dropped
        nursery.cancel_scope.cancel()
