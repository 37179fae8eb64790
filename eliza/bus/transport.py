"""What a transport of `SharedBus` is, and the small pieces the transports share: the
`Transport` protocol, a batch of frames to send, the write transaction `stage` runs in,
and reconnection backoff."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .shared import SharedBus


class SqlTransaction(Protocol):
    """What `stage` needs of the write transaction it is called in (an `eliza.store`
    Transaction): its dialect and `execute` with `?` placeholders."""

    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...


class Transport(Protocol):
    """Carries frames between workers. `run` keeps a listener and a sender connected
    (reconnecting with backoff) until cancelled, reporting to the bus it is given."""

    name: str
    max_frame_bytes: int  # frames are built below this; one larger event travels alone

    async def run(self, link: SharedBus) -> None: ...

    def stage(self, db: SqlTransaction, text: str) -> bool:
        """Send `text` inside `db`'s transaction (delivered at commit, dropped on
        rollback) and return True, or return False when this transport cannot."""
        ...


@dataclass
class Batch:
    """Frames for the transport to send, each with the number of events it carries."""

    frames: list[tuple[str, int]]

    @property
    def events(self) -> int:
        return sum(n for _, n in self.frames)


class Backoff:
    """Delays between reconnection attempts: doubling from `first` up to `most`, jittered."""

    def __init__(self, first: float = 0.05, most: float = 5.0) -> None:
        self.first, self.most, self._next = first, most, first

    def next(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self.most)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.first


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
