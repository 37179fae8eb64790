"""Server log capture: a bounded ring of structured entries fed by the `logging` module.

It backs `GET /api/server/logs` and the Socket.IO log stream. Entries are shaped as ElizaOS
sends them: `{time (ms), level (number), msg, agentName?, agentId?}`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# ElizaOS (pino-style) level numbers.
LEVELS: dict[str, int] = {
    "fatal": 60,
    "error": 50,
    "warn": 40,
    "info": 30,
    "log": 29,
    "progress": 28,
    "success": 27,
    "debug": 20,
    "trace": 10,
}
_FROM_PYTHON = {
    logging.CRITICAL: 60,
    logging.ERROR: 50,
    logging.WARNING: 40,
    logging.INFO: 30,
    logging.DEBUG: 20,
}

LogListener = Callable[[dict[str, Any]], None]


def level_number(level: int) -> int:
    """Map a Python logging level to the ElizaOS number (nearest lower known level)."""
    for py_level in sorted(_FROM_PYTHON, reverse=True):
        if level >= py_level:
            return _FROM_PYTHON[py_level]
    return 10


@dataclass
class LogEntry:
    time: int
    level: int
    msg: str
    agent_name: str | None = None
    agent_id: str | None = None

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> LogEntry:
        return cls(int(entry["time"]), int(entry["level"]), str(entry["msg"]),
                   entry.get("agentName"), entry.get("agentId"))

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"time": self.time, "level": self.level, "msg": self.msg}
        if self.agent_name is not None:
            entry["agentName"] = self.agent_name
        if self.agent_id is not None:
            entry["agentId"] = self.agent_id
        return entry


class LogBuffer(logging.Handler):
    """A logging handler that keeps the last `capacity` records and tells listeners.

    Listeners must not block: they are called synchronously on the logging thread
    (the realtime hub hands entries on with a non-blocking send).
    """

    def __init__(self, capacity: int = 1000, level: int = logging.DEBUG) -> None:
        super().__init__(level=level)
        self._entries: deque[LogEntry] = deque(maxlen=capacity)
        self._listeners: list[LogListener] = []
        # Told of this process's own entries only (not those other workers relayed here),
        # from whichever thread logged them: how a deployment relays its workers' logs.
        self.on_local: LogListener | None = None
        self.on_local_clear: Callable[[], None] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:  # a bad %-format in someone's log call must not break logging
            msg = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            msg = f"{msg}: {record.exc_info[1]!r}"
        entry = LogEntry(
            time=int(record.created * 1000),
            level=level_number(record.levelno),
            msg=msg,
            agent_name=getattr(record, "agent_name", None),
            agent_id=getattr(record, "agent_id", None),
        )
        self.append(entry)

    def append(self, entry: LogEntry, *, local: bool = True) -> None:
        """Keep `entry` and tell the listeners; `local` is False for an entry another
        worker of the deployment logged."""
        self._entries.append(entry)
        as_dict = entry.to_dict()
        for listener in tuple(self._listeners):
            listener(as_dict)
        if local and self.on_local is not None:
            self.on_local(as_dict)

    def add_listener(self, listener: LogListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: LogListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def clear(self, *, local: bool = True) -> None:
        """Forget every entry (`local` is False when another worker's clear is relayed)."""
        self._entries.clear()
        if local and self.on_local_clear is not None:
            self.on_local_clear()

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

