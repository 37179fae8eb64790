"""Time as the API shows it: epoch milliseconds, and ISO 8601 in UTC with milliseconds and
a `Z`, as JavaScript's `Date.toISOString()` writes it (the ElizaOS clients parse both)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )
