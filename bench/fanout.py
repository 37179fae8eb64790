"""Socket.IO fan-out: latency of `messageBroadcast` to many clients joined to one channel,
against a real `hypercorn -k trio eliza.app:app` (temp data dir, rate limits off).

    python bench/fanout.py [--clients 1000] [--messages 50] [--interval 0.1]
                           [--client light|trio] [--client-procs 2]

The clients speak Engine.IO v4 / Socket.IO v5 text frames over
`/socket.io/?EIO=4&transport=websocket`. They CONNECT with `{entityId}`, join one GROUP
channel (`message` type 1) and record when each broadcast arrives. A poster then sends
`--messages` messages by REST, one every `--interval` seconds. Latency is from just before
the POST to a client's receipt of the broadcast (so it includes the REST post and storing
the message). Prints JSON: p50/p99/max over every (message, client) pair, the p50/p99 of the
per-message time until the last client had it, the connect time, and the CPU the server and
the clients used while the messages went out.

Two load generators:
- `light` (default): `--client-procs` processes, each holding its share of the clients as
  plain non-blocking sockets in one epoll loop with a minimal websocket frame parser
  (~20 us of CPU per received frame). Timestamps are `time.monotonic()`, one clock for every
  process on Linux.
- `trio`: trio-websocket clients (`RawClient`) in this one trio process. It costs ~0.2 ms of
  CPU per received frame, as much as the server did before its fast path: on a 2-core
  machine it measures the client more than the server.

The raw client (`RawClient`, `open_raw_client`) is also used by tests/realtime_e2e.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import resource
import select
import selectors
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

from bench.server import ROOT, start_server

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
    return _summary(clients, messages, interval, sent,
                    [receiver.received for receiver in receivers], connect_s, elapsed,
                    cpu_after[0] - cpu_before[0],
                    cpu_after[1] - cpu_before[1] if server_pid is not None else None,
                    extra={"client": "trio"})


# -- the light load generator ------------------------------------------------------------------


def _client_frame(text: str) -> bytes:
    """A masked client text frame (mask key 0: the payload goes as is)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, 0x80 | size))
    elif size < 0x10000:
        header = bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 0x80 | 127)) + size.to_bytes(8, "big")
    return header + b"\0\0\0\0" + payload


_PONG = _client_frame("3")
_BROADCAST = b'42["messageBroadcast",'


class _LightClient:
    """One websocket: a blocking handshake, then non-blocking frame parsing."""

    def __init__(self, host: str, port: int) -> None:
        self.entity_id = str(uuid.uuid4())
        self.sock = socket.create_connection((host, port), timeout=30)
        self.buffer = bytearray()
        self.received: list[tuple[str, float]] = []
        self.closed = False
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {EIO_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           ).encode())
        while b"\r\n\r\n" not in self.buffer:
            self._recv_blocking()
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ProtocolFailure(f"websocket refused: {head[:80]!r}")
        self.buffer = bytearray(rest)

    def _recv_blocking(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ProtocolFailure("server closed the connection")
        self.buffer += data

    def _texts(self) -> list[bytes]:
        """Whole text frames in the buffer (server frames: unmasked, never fragmented)."""
        buf, i, texts = self.buffer, 0, []
        while len(buf) - i >= 2:
            size, head = buf[i + 1] & 0x7F, 2
            if size == 126:
                if len(buf) - i < 4:
                    break
                size, head = int.from_bytes(buf[i + 2:i + 4], "big"), 4
            elif size == 127:
                if len(buf) - i < 10:
                    break
                size, head = int.from_bytes(buf[i + 2:i + 10], "big"), 10
            if len(buf) - i < head + size:
                break
            opcode = buf[i] & 0x0F
            if opcode == 1:
                texts.append(bytes(buf[i + head:i + head + size]))
            elif opcode == 8:
                self.closed = True
            i += head + size
        del buf[:i]
        return texts

    def _handle(self, text: bytes, now: float) -> bytes:
        if text == b"2":
            self.sock.sendall(_PONG)
        elif text.startswith(_BROADCAST):
            self.received.append((str(json.loads(text[2:])[1]["text"]), now))
        return text

    def setup(self, channel_id: str) -> None:
        """OPEN, CONNECT with `{entityId}`, join the channel; then non-blocking."""
        def until(prefix: bytes) -> None:
            while True:
                for text in self._texts():
                    if self._handle(text, 0.0).startswith(prefix):
                        return
                self._recv_blocking()
        until(b"0")
        self.sock.sendall(_client_frame("40" + json.dumps({"entityId": self.entity_id})))
        until(b"40")
        self.sock.sendall(_client_frame("42" + json.dumps(["message", {"type": 1, "payload": {
            "channelId": channel_id, "roomId": channel_id, "entityId": self.entity_id}}])))
        until(b'42["channel_joined"')
        self.sock.setblocking(False)

    def on_readable(self) -> int:
        """Read what arrived; the number of broadcasts it completed."""
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return 0
        if not data:
            self.closed = True
            return 0
        now = time.monotonic()
        self.buffer += data
        before = len(self.received)
        for text in self._texts():
            self._handle(text, now)
        return len(self.received) - before


def light_child(url: str, channel_id: str, count: int, expect: int, out_path: str) -> None:
    """One load-generator process: `count` clients; "ready" once joined, measure from "go"
    on stdin until every client has `expect` broadcasts or stdin closes; results to
    `out_path`, then "done"."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    clients = []
    for _ in range(count):
        client = _LightClient(parts.hostname, parts.port)
        client.setup(channel_id)
        clients.append(client)
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    cpu_start = time.process_time()
    selector = selectors.EpollSelector()
    for client in clients:
        selector.register(client.sock, selectors.EVENT_READ, client)
    selector.register(sys.stdin, selectors.EVENT_READ, None)
    remaining = count * expect
    stop = False
    while remaining > 0 and not stop:
        for key, _mask in selector.select():
            if key.data is None:
                stop = True  # stdin closed: the poster gave up waiting
                continue
            remaining -= key.data.on_readable()
    cpu = time.process_time() - cpu_start
    Path(out_path).write_text(json.dumps({
        "cpu_s": cpu, "received": [client.received for client in clients]}))
    print("done", flush=True)


def run_light_bench(base_url: str, clients: int, messages: int, interval: float, procs: int,
                    server_pid: int | None) -> dict[str, Any]:
    author = str(uuid.uuid4())
    with httpx.Client(base_url=base_url, timeout=30) as http, \
            tempfile.TemporaryDirectory() as tmp:
        response = http.post("/api/messaging/channels", json={
            "name": "fanout bench", "message_server_id": DEFAULT_SERVER_ID,
            "participantCentralUserIds": [author], "type": "GROUP", "metadata": {}})
        response.raise_for_status()
        channel_id = str(response.json()["data"]["id"])
        started = time.monotonic()
        children = []
        for n in range(procs):
            count = clients // procs + (1 if n < clients % procs else 0)
            out = str(Path(tmp) / f"child{n}.json")
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.fanout", "--light-child", out, "--url", base_url,
                 "--channel", channel_id, "--clients", str(count),
                 "--messages", str(messages + 3)],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            children.append((proc, out))
        try:
            for proc, _out in children:
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != "ready":
                    raise RuntimeError("a load-generator process failed to connect")
            connect_s = time.monotonic() - started
            cpu_before = _cpu_seconds(server_pid)
            measured_from = time.monotonic()
            for proc, _out in children:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            sent: dict[str, float] = {}
            for i in range(messages + 3):  # 3 warm-up messages, not counted
                text = f"fanout {i}" if i >= 3 else f"warm-up {i}"
                if i >= 3:
                    sent[text] = time.monotonic()
                response = http.post(f"/api/messaging/channels/{channel_id}/messages", json={
                    "author_id": author, "content": text,
                    "message_server_id": DEFAULT_SERVER_ID})
                response.raise_for_status()
                time.sleep(interval)
            deadline = time.monotonic() + 30
            pending = {proc.stdout.fileno(): proc for proc, _out in children if proc.stdout}
            while pending and time.monotonic() < deadline:
                ready, _, _ = select.select(list(pending), [], [], deadline - time.monotonic())
                for fd in ready:
                    pending.pop(fd).stdout.readline()  # type: ignore[union-attr]
            elapsed = time.monotonic() - measured_from
            cpu_after = _cpu_seconds(server_pid)
            for proc, _out in children:
                assert proc.stdin is not None
                proc.stdin.close()  # stops a child still waiting for broadcasts
            for proc, _out in children:
                if proc.wait(30) != 0:
                    raise RuntimeError("a load-generator process failed")
            results = [json.loads(Path(out).read_text()) for _proc, out in children]
        finally:
            for proc, _out in children:
                if proc.poll() is None:
                    proc.kill()
    received = [dict(r) for result in results for r in result["received"]]
    return _summary(clients, messages, interval, sent, received, connect_s, elapsed,
                    sum(result["cpu_s"] for result in results),
                    cpu_after - cpu_before if server_pid is not None else None,
                    extra={"client": "light", "client_procs": procs})


def _summary(clients: int, messages: int, interval: float, sent: dict[str, float],
             received: list[dict[str, float]], connect_s: float, elapsed: float,
             client_cpu: float, server_cpu: float | None, extra: dict[str, Any]
             ) -> dict[str, Any]:
    latencies = [(got[text] - t0) * 1000 for got in received for text, t0 in sent.items()
                 if text in got]
    last = [max(got.get(text, math.inf) for got in received) - t0 for text, t0 in sent.items()]
    frames = len(latencies)
    return {
        **extra,
        "clients": clients,
        "messages": messages,
        "interval_s": interval,
        "deliveries": frames,
        "missing": clients * messages - frames,
        "connect_and_join_s": round(connect_s, 2),
        "latency_ms": {"p50": round(percentile(latencies, 50), 1),
                       "p99": round(percentile(latencies, 99), 1),
                       "max": round(max(latencies), 1),
                       "mean": round(sum(latencies) / len(latencies), 1)},
        "last_client_ms": {"p50": round(percentile(last, 50) * 1000, 1),
                           "p99": round(percentile(last, 99) * 1000, 1)},
        # CPU used while the messages were sent and received (warm-up messages included),
        # against the wall time: the clients run on the same machine as the server.
        "measured_s": round(elapsed, 2),
        "client_cpu_s": round(client_cpu, 2),
        "server_cpu_s": round(server_cpu, 2) if server_cpu is not None else None,
        "server_cpu_ms_per_frame": (round(server_cpu * 1000 / (clients * (messages + 3)), 4)
                                    if server_cpu is not None else None),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--client", choices=("light", "trio"), default="light")
    parser.add_argument("--client-procs", type=int, default=2,
                        help="load-generator processes (light client)")
    parser.add_argument("--light-child", help=argparse.SUPPRESS)
    parser.add_argument("--channel", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # 1,000 sockets here plus 1,000 in the server: more than a default soft limit of 1024.
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    except (ValueError, OSError):
        pass
    if args.light_child:
        light_child(args.url, args.channel, args.clients, args.messages, args.light_child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = (None, args.url) if args.url else start_server(Path(tmp) / ".eliza")
        try:
            if args.client == "light":
                result = run_light_bench(url, args.clients, args.messages, args.interval,
                                         args.client_procs,
                                         proc.pid if proc is not None else None)
            else:
                result = trio.run(run_bench, url, args.clients, args.messages, args.interval,
                                  proc.pid if proc is not None else None)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(20)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
