"""Socket.IO fan-out: latency of `messageBroadcast` to many clients joined to one channel,
against a real `hypercorn -k trio eliza.app:app` (temp data dir, rate limits off).

    python bench/fanout.py [--clients 1000] [--messages 50] [--interval 0.1]

The clients are raw websocket clients (trio-websocket) speaking Engine.IO v4 / Socket.IO v5
text frames over `/socket.io/?EIO=4&transport=websocket`, all in this one trio process. They
CONNECT with `{entityId}`, join one GROUP channel (`message` type 1) and record when each
broadcast arrives. A poster then sends `--messages` messages by REST, one every
`--interval` seconds. Latency is from just before the POST to a client's receipt of the
broadcast (so it includes the REST post and storing the message). Prints JSON: p50/p99/max
over every (message, client) pair, the p50/p99 of the per-message time until the last
client had it, and the connect time.

The raw client (`RawClient`, `open_raw_client`) is also used by tests/realtime_e2e.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio
from trio_websocket import WebSocketConnection, open_websocket_url, wrap_client_stream

DEFAULT_SERVER_ID = "00000000-0000-0000-0000-000000000000"
EIO_PATH = "/socket.io/?EIO=4&transport=websocket"


class ProtocolFailure(Exception):
    """The server answered something a Socket.IO client does not expect."""


@dataclass
class RawClient:
    """A minimal Socket.IO client over one websocket: CONNECT, events, pings answered."""

    ws: WebSocketConnection
    entity_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sid: str = ""
    handshake: dict[str, Any] = field(default_factory=dict)

    async def connect(self, auth: dict[str, Any] | None = None) -> None:
        """Engine.IO OPEN, then Socket.IO CONNECT with `{entityId}` (plus `auth`)."""
        opening = await self.ws.get_message()
        if not isinstance(opening, str) or not opening.startswith("0"):
            raise ProtocolFailure(f"expected an Engine.IO OPEN, got {opening!r}")
        self.handshake = json.loads(opening[1:])
        await self.ws.send_message("40" + json.dumps({"entityId": self.entity_id, **(auth or {})}))
        while True:
            text = await self._next_text()  # a Socket.IO packet (the "4" stripped)
            if text.startswith("0"):
                self.sid = json.loads(text[1:])["sid"]
                return
            if text.startswith("4"):
                raise ProtocolFailure(f"connect refused: {text}")

    async def emit(self, event: str, *args: Any) -> None:
        await self.ws.send_message("42" + json.dumps([event, *args]))

    async def join(self, channel_id: str) -> dict[str, Any]:
        """ROOM_JOINING as the web UI sends it; returns the `channel_joined` payload."""
        await self.emit("message", {"type": 1, "payload": {
            "channelId": channel_id, "roomId": channel_id, "entityId": self.entity_id}})
        while True:
            event, data = await self.next_event()
            if event == "channel_joined" and data.get("channelId") == channel_id:
                return dict(data)

    async def next_event(self) -> tuple[str, Any]:
        """The next Socket.IO EVENT as (name, first argument)."""
        while True:
            text = await self._next_text()
            if text.startswith("2"):
                event, *args = json.loads(text[1:])
                return str(event), (args[0] if args else None)
            if text.startswith(("1", "4")):
                raise ProtocolFailure(f"server ended the socket: {text}")

    async def _next_text(self) -> str:
        """The next Socket.IO packet (an Engine.IO MESSAGE without its "4")."""
        while True:
            message = await self.ws.get_message()
            if not isinstance(message, str):
                raise ProtocolFailure("unexpected binary frame")
            if message == "2":  # Engine.IO ping: answer, or the server drops us
                await self.ws.send_message("3")
                continue
            if message.startswith("4"):
                return message[1:]
            if message.startswith("1"):
                raise ProtocolFailure("server closed the Engine.IO session")


def ws_url(base_url: str) -> str:
    return "ws" + base_url.removeprefix("http") + EIO_PATH


@asynccontextmanager
async def open_raw_client(
    base_url: str,
    *,
    auth: dict[str, Any] | None = None,
    message_queue_size: int = 1024,
    receive_buffer: int | None = None,
) -> AsyncIterator[RawClient]:
    """A connected RawClient. `receive_buffer` sets SO_RCVBUF (bytes) before connecting, so
    a client that stops reading pushes back on the server quickly (a stalled consumer)."""
    if receive_buffer is None:
        async with open_websocket_url(ws_url(base_url), connect_timeout=10,
                                      disconnect_timeout=2,
                                      message_queue_size=message_queue_size) as ws:
            client = RawClient(ws)
            await client.connect(auth)
            yield client
        return
    parts = urlsplit(base_url)
    assert parts.hostname is not None
    assert parts.port is not None
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, receive_buffer)
    try:
        await sock.connect((parts.hostname, parts.port))
    except BaseException:
        sock.close()  # not yet owned by a SocketStream
        raise
    async with trio.SocketStream(sock) as stream, trio.open_nursery() as nursery:
        ws = await wrap_client_stream(nursery, stream, parts.hostname, EIO_PATH,
                                      message_queue_size=message_queue_size,
                                      receive_buffer_size=1024)
        try:
            client = RawClient(ws)
            await client.connect(auth)
            yield client
        finally:
            with trio.move_on_after(2) as scope:
                scope.shield = True
                await ws.aclose()
            nursery.cancel_scope.cancel()


async def create_group_channel(http: httpx.AsyncClient, owner: str, name: str) -> str:
    """A GROUP channel with no agent in it (so nobody answers the posted messages)."""
    response = await http.post("/api/messaging/channels", json={
        "name": name, "message_server_id": DEFAULT_SERVER_ID,
        "participantCentralUserIds": [owner], "type": "GROUP", "metadata": {}})
    response.raise_for_status()
    return str(response.json()["data"]["id"])


async def post_message(http: httpx.AsyncClient, channel_id: str, author: str, text: str
                       ) -> str:
    response = await http.post(f"/api/messaging/channels/{channel_id}/messages", json={
        "author_id": author, "content": text, "message_server_id": DEFAULT_SERVER_ID})
    response.raise_for_status()
    return str(response.json()["data"]["id"])


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


# -- the benchmark -------------------------------------------------------------------------


@dataclass
class Receiver:
    received: dict[str, float] = field(default_factory=dict)  # message text -> receipt time


@dataclass
class Tally:
    """Deliveries so far; `complete` is set once every client has every message."""

    expected: int
    count: int = 0
    complete: trio.Event = field(default_factory=trio.Event)

    def add(self) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.complete.set()


async def _receiver(base_url: str, channel_id: str, receiver: Receiver, ready: trio.Semaphore,
                    joined: trio.Event, counter: list[int], total: int, tally: Tally) -> None:
    """Connect and join (at most `ready` at a time), then record broadcasts until cancelled."""
    await ready.acquire()
    released = False
    try:
        async with open_raw_client(base_url) as client:
            await client.join(channel_id)
            ready.release()
            released = True
            counter[0] += 1
            if counter[0] == total:
                joined.set()
            while True:
                event, data = await client.next_event()
                if event == "messageBroadcast":
                    receiver.received[str(data["text"])] = trio.current_time()
                    tally.add()
    finally:
        if not released:
            ready.release()


def _cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) of this process (None), or of a process and its descendants
    (hypercorn serves from a worker process it spawns); Linux /proc, NaN elsewhere."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu seconds)
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        stats[int(entry.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    if pid not in stats:
        return math.nan
    tree, total = {pid}, 0.0
    for _ in range(4):  # a few levels of descendants are plenty
        tree |= {child for child, (parent, _cpu) in stats.items() if parent in tree}
    for member in tree:
        total += stats[member][1]
    return total


async def run_bench(base_url: str, clients: int, messages: int, interval: float,
                    server_pid: int | None = None) -> dict[str, Any]:
    author = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        channel_id = await create_group_channel(http, author, "fanout bench")
        receivers = [Receiver() for _ in range(clients)]
        joined = trio.Event()
        counter = [0]
        tally = Tally(clients * (messages + 3))
        sent: dict[str, float] = {}
        async with trio.open_nursery() as nursery:
            started = trio.current_time()
            ready = trio.Semaphore(50)  # connect at most 50 at a time
            for receiver in receivers:
                nursery.start_soon(_receiver, base_url, channel_id, receiver, ready, joined,
                                   counter, clients, tally)
            with trio.fail_after(120):
                await joined.wait()
            connect_s = trio.current_time() - started
            cpu_before = _cpu_seconds(None), _cpu_seconds(server_pid)
            measured_from = trio.current_time()
            for i in range(messages + 3):  # 3 warm-up messages, not counted
                text = f"fanout {i}" if i >= 3 else f"warm-up {i}"
                if i >= 3:
                    sent[text] = trio.current_time()
                await post_message(http, channel_id, author, text)
                await trio.sleep(interval)
            with trio.move_on_after(30):
                await tally.complete.wait()
            elapsed = trio.current_time() - measured_from
            cpu_after = _cpu_seconds(None), _cpu_seconds(server_pid)
            nursery.cancel_scope.cancel()
    latencies = [(r.received[text] - t0) * 1000 for r in receivers for text, t0 in sent.items()
                 if text in r.received]
    last = [max(r.received.get(text, math.inf) for r in receivers) - t0
            for text, t0 in sent.items()]
    missing = clients * messages - len(latencies)
    return {
        "clients": clients,
        "messages": messages,
        "interval_s": interval,
        "deliveries": len(latencies),
        "missing": missing,
        "connect_and_join_s": round(connect_s, 2),
        "latency_ms": {"p50": round(percentile(latencies, 50), 1),
                       "p99": round(percentile(latencies, 99), 1),
                       "max": round(max(latencies), 1),
                       "mean": round(sum(latencies) / len(latencies), 1)},
        "last_client_ms": {"p50": round(percentile(last, 50) * 1000, 1),
                           "p99": round(percentile(last, 99) * 1000, 1)},
        # CPU used while the messages were sent and received, against the wall time: the
        # clients run on the same machine as the server and compete with it for the cores.
        "measured_s": round(elapsed, 2),
        "client_cpu_s": round(cpu_after[0] - cpu_before[0], 2),
        "server_cpu_s": (round(cpu_after[1] - cpu_before[1], 2)
                         if server_pid is not None else None),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "ELIZA_DATA_DIR": str(data_dir), "ELIZA_RATE_LIMIT": "off"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "-k", "trio", "-b", f"127.0.0.1:{port}",
         "eliza.app:app"],
        cwd=data_dir.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited early")
        try:
            if httpx.get(url + "/api/server/ping", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--url", help="an already running server (default: start one)")
    args = parser.parse_args()
    # 1,000 sockets here plus 1,000 in the server: more than a default soft limit of 1024.
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    except (ValueError, OSError):
        pass
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = (None, args.url) if args.url else start_server(Path(tmp) / ".eliza")
        try:
            result = trio.run(run_bench, url, args.clients, args.messages, args.interval,
                              proc.pid if proc is not None else None)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(20)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
