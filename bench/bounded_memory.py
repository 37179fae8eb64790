"""Bounded memory per request and per connection, at full size, against a real
`hypercorn -k trio eliza.app:app` (temp data dir, rate limits off, no agent):

    python -m bench.bounded_memory [--send-timeout 5] [--body-timeout 5]

1. listings: 100 messages of 1.5 MB in a channel, then 4 concurrent
   `GET .../messages?limit=100` (each answer ~300 MB, read by the client as it arrives);
2. never-read: 50 clients request a ~4 MB listing and read nothing;
3. stalled bodies: 166 clients send half a JSON body and stall;
4. slow consumers: 200 websocket clients join a channel and stop reading while 100
   messages of 16 KB are broadcast to it.

Prints JSON: the worker's RSS (MB) before, at its peak and after each phase, the bytes sent,
and how long the server took to close the stalled connections. The test suite runs shortened
versions (tests/api/test_bounded_memory.py, tests/realtime/test_slow_consumers.py), which
share the helpers below.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import struct
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from bench.server import rss_mb, serving, worker_pid

MB = 1024 * 1024
UPGRADE = ("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def the_worker(server: Any) -> int:
    """The pid of the hypercorn worker of a test's `LiveServer` (it writes server.lock)."""
    assert server.proc is not None
    return worker_pid(server.data_dir, server.proc.pid)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class PeakRss:
    """The highest RSS (MB) of `pid` seen while the `with` block runs, sampled by a thread."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self.peak = rss_mb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(self.pid))


def stalled_socket(port: int, request: bytes) -> socket.socket:
    """A connection that sends `request` and then reads nothing: a small receive buffer,
    so the server's writes block soon (and the test machine's kernel holds little)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(request)
    return sock


def read_to_eof(sock: socket.socket, within: float) -> bytes:
    """Everything until the server closes the connection; fails after `within` seconds."""
    sock.settimeout(within)
    deadline = time.monotonic() + within
    data = bytearray()
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 16)
        except TimeoutError:
            break
        except ConnectionResetError:
            return bytes(data)
        if not chunk:
            return bytes(data)
        data += chunk
    raise AssertionError(f"the server kept the connection open for {within} s")



def text_frame(text: str) -> bytes:
    """A client's websocket text frame (masked, with a zero mask: the payload is as is)."""
    payload = text.encode()
    size = len(payload)
    length = bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack(
        "!H", size)
    return b"\x81" + length + b"\0\0\0\0" + payload


def slow_consumer(port: int, channel: str) -> socket.socket:
    """A websocket client that connects to "/", joins `channel`, reads until the join is
    confirmed, then never reads again (frames are sent only after the 101 answer)."""
    entity_id = str(uuid.uuid4())
    connect = "40" + json.dumps({"entityId": entity_id})  # the server refuses a nameless client
    join = {"type": 1, "payload": {"channelId": channel, "entityId": entity_id}}
    sock = stalled_socket(port, UPGRADE.encode())
    sock.settimeout(10)
    seen = b""
    for sent, expected in ((b"", b"\r\n\r\n"), (text_frame(connect) + text_frame(
            "42" + json.dumps(["message", join])), b"channel_joined")):
        sock.sendall(sent)
        while expected not in seen:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed before joining")
            seen = seen[-64:] + chunk
    return sock


def post_messages(url: str, channel: str, count: int, size: int) -> list[str]:
    """`count` messages of `size` characters, oldest first; their contents' prefixes."""
    author = str(uuid.uuid4())
    prefixes = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for i in range(count):
            prefix = f"m{i:04d}-"
            http.post(f"/api/messaging/channels/{channel}/messages", json={
                "author_id": author, "content": prefix + "x" * size}).raise_for_status()
            prefixes.append(prefix)
    return prefixes


def fetch_listing(url: str, channel: str, limit: int) -> tuple[int, dict[str, Any]]:
    """A listing read as a stream, its runs of filler squeezed as they arrive (so that the
    reader holds kilobytes, not the answer): (bytes received, the squeezed JSON)."""
    received = 0
    squeezed = bytearray()
    with httpx.stream("GET", f"{url}/api/messaging/channels/{channel}/messages",
                      params={"limit": limit}, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            received += len(chunk)
            squeezed += re.sub(rb"x{64,}", b"x", chunk)
    return received, json.loads(re.sub(rb"x{2,}", b"x", bytes(squeezed)))


# -- the phases ---------------------------------------------------------------------------


def _phase(pid: int, run: Any) -> dict[str, Any]:
    before = rss_mb(pid)
    started = time.monotonic()
    with PeakRss(pid) as peak:
        extra = run()
    return {"rss_before": before, "rss_peak": peak.peak, "rss_after": rss_mb(pid),
            "seconds": round(time.monotonic() - started, 1), **extra}


def listings(url: str, channel: str) -> dict[str, Any]:
    results: list[int] = []

    def one() -> None:
        size, answer = fetch_listing(url, channel, 100)
        assert len(answer["data"]["messages"]) == 100
        results.append(size)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"answers_mb": [round(r / MB) for r in results]}


def never_read(port: int, pid: int, channel: str, clients: int) -> dict[str, Any]:
    fds = open_fds(pid)
    request = (f"GET /api/messaging/channels/{channel}/messages?limit=100 HTTP/1.1\r\n"
               "Host: 127.0.0.1\r\n\r\n").encode()
    socks = [stalled_socket(port, request) for _ in range(clients)]
    started = time.monotonic()
    try:
        while open_fds(pid) > fds:
            time.sleep(0.2)
        return {"all_closed_after_s": round(time.monotonic() - started, 1)}
    finally:
        for sock in socks:
            sock.close()


def stalled_bodies(port: int, pid: int, clients: int) -> dict[str, Any]:
    fds = open_fds(pid)
    head = (f"POST /api/messaging/channels/{uuid.uuid4()}/messages HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
            "\r\n")
    socks = [stalled_socket(port, head.encode() + b'{"content":') for _ in range(clients)]
    started = time.monotonic()
    try:
        while open_fds(pid) > fds:
            time.sleep(0.2)
        return {"all_closed_after_s": round(time.monotonic() - started, 1)}
    finally:
        for sock in socks:
            sock.close()


def slow_consumers(url: str, port: int, pid: int, clients: int) -> dict[str, Any]:
    channel, fds = str(uuid.uuid4()), open_fds(pid)
    socks = [slow_consumer(port, channel) for _ in range(clients)]
    started = time.monotonic()
    try:
        post_messages(url, channel, 100, 16 * 1024)
        while open_fds(pid) > fds:
            time.sleep(0.2)
        return {"all_closed_after_s": round(time.monotonic() - started, 1)}
    finally:
        for sock in socks:
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--send-timeout", type=float, default=5.0)
    parser.add_argument("--body-timeout", type=float, default=5.0)
    args = parser.parse_args()
    env = {"ELIZA_DEFAULT_AGENT": "false", "ELIZA_SEND_TIMEOUT": str(args.send_timeout),
           "ELIZA_BODY_TIMEOUT": str(args.body_timeout), "EXPRESS_MAX_PAYLOAD": "4mb",
           "ELIZA_MAX_MESSAGE_CHARS": "4000000"}
    with tempfile.TemporaryDirectory() as tmp, serving(
            Path(tmp), env=env, wait_for_agent=False) as (proc, url):
        pid = worker_pid(Path(tmp), proc.pid)
        port = int(url.rsplit(":", 1)[1])
        big, small = str(uuid.uuid4()), str(uuid.uuid4())
        post_messages(url, big, 100, 1536 * 1024)
        post_messages(url, small, 100, 20 * 1024)
        report = {
            "settings": env,
            "listings_4x100_of_1.5MB": _phase(pid, lambda: listings(url, big)),
            "never_read_50x4MB": _phase(pid, lambda: never_read(port, pid, small, 50)),
            "stalled_bodies_166": _phase(pid, lambda: stalled_bodies(port, pid, 166)),
            "slow_consumers_200": _phase(pid, lambda: slow_consumers(url, port, pid, 200)),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
