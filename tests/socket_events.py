"""python-socketio's events, collected from its own threads and waited on by a test."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any

import socketio


class Events:
    """The events a python-socketio client receives, in order; `wait` blocks for one."""

    def __init__(self, client: socketio.Client) -> None:
        self.seen: list[tuple[str, Any]] = []
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        client.on("*", self._on_any)

    def _on_any(self, event: str, *args: Any) -> None:
        self._queue.put((event, args[0] if args else None))

    def wait(self, event: str, match: Callable[[Any], bool] = lambda data: True,
             timeout: float = 15.0) -> Any:
        for name, data in self.seen:
            if name == event and match(data):
                return data
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                name, data = self._queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append((name, data))
            if name == event and match(data):
                return data
        raise AssertionError(f"no {event!r} within {timeout} s; seen {self.seen}")
