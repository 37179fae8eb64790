"""A clock a test moves forward instead of sleeping (for services that take `clock=`)."""

from __future__ import annotations

from dataclasses import dataclass

MINUTE = 60_000


@dataclass
class Clock:
    """Epoch ms that a test moves forward instead of sleeping."""

    now: int

    def __call__(self) -> int:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += int(minutes * MINUTE)
