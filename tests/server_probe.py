"""Reading a live server's worker from outside (Linux /proc): its RSS, its peak RSS while
something runs, its open descriptors; and raw sockets that never read what they are sent."""

from __future__ import annotations

import os
import socket
import threading
import time
from types import TracebackType
from typing import Any

from bench.server import rss_mb, worker_pid

__all__ = ["PeakRss", "open_fds", "read_to_eof", "rss_mb", "stalled_socket", "the_worker"]


def the_worker(server: Any) -> int:
    """The pid of the hypercorn worker of a `conftest.LiveServer` (it writes server.lock)."""
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

