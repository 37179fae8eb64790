"""Items produced on any thread (a logging handler's), handed to trio in batches.

The queue is bounded: past `capacity` the oldest items are dropped and counted. At most one
drain is scheduled on trio at a time, and it gets everything queued by then, so a burst of
items costs one hand-over, not one each.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class ThreadHandoff(Generic[T]):
    """`deliver` gets each batch on trio; `token` (the trio run's, set while it runs) is
    where batches go: without one, `put` drops nothing and delivers nothing."""

    def __init__(self, capacity: int, deliver: Callable[[list[T]], None]) -> None:
        self.queue: deque[T] = deque(maxlen=capacity)
        self.dropped = 0
        self.token: trio.lowlevel.TrioToken | None = None
        self._deliver = deliver
        self._lock = threading.Lock()
        self._scheduled = False

    def put(self, item: T) -> None:
        """Queue `item` (from any thread) and make sure a drain is scheduled."""
        token = self.token
        if token is None:
            return
        with self._lock:
            if len(self.queue) == self.queue.maxlen:
                self.dropped += 1
            self.queue.append(item)
            if self._scheduled:
                return
            self._scheduled = True
        try:
            token.run_sync_soon(self._drain)
        except trio.RunFinishedError:  # the server has stopped
            with self._lock:
                self._scheduled = False

    def _drain(self) -> None:
        with self._lock:
            items = list(self.queue)
            self.queue.clear()
            self._scheduled = False
        self._deliver(items)
