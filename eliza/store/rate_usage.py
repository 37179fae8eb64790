"""Rate-limit usage shared by the workers of a deployment (see migration m008): one row per
limiter, client, window and worker, holding that worker's hits in that window. A window's
start is epoch milliseconds aligned to the window's length, so every worker names it alike.

A worker only ever raises its own rows (`hits` never goes down within a window), so writes
from its periodic sync and from its exact checks may land in any order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from .protocols import Transaction

# Clients per `IN (...)` list: far below either dialect's limit on parameters.
CHUNK = 500


@dataclass(frozen=True)
class Hits:
    """A worker's count of one client's hits in one window of one limiter."""

    limiter: str
    client: str
    window_start: int
    hits: int


@dataclass(frozen=True)
class Others:
    """What the other workers count for one limiter's window: hits by client (only the
    clients asked about, and only those with hits), and how many workers counted any."""

    limiter: str
    window_start: int
    hits: dict[str, int]
    workers: int


def _upsert_sql(db: Transaction) -> str:
    keep_higher = "GREATEST" if db.dialect == "postgresql" else "max"
    return ("INSERT INTO rate_usage (limiter, client, window_start, worker, hits)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (limiter, client, window_start, worker)"
            f" DO UPDATE SET hits = {keep_higher}(rate_usage.hits, excluded.hits)")


def record_hits(db: Transaction, worker: str, rows: Iterable[Hits]) -> None:
    """Raise this worker's rows to these counts (a lower count leaves a row as it is)."""
    # One order for every writer, so two transactions never wait on each other's rows.
    ordered = sorted(rows, key=lambda r: (r.limiter, r.client, r.window_start))
    if ordered:
        db.executemany(_upsert_sql(db), [(r.limiter, r.client, r.window_start, worker, r.hits)
                                         for r in ordered])


def count_exactly(db: Transaction, worker: str, own: Hits, limit: int) -> tuple[int, int]:
    """Whether this worker's `own.hits`-th hit of a client is within `limit` for the whole
    deployment, serialised with every other exact count of the same client and window (so
    two workers near the limit never both take the last request). Records this worker's
    count (without the hit, when it is over) and returns (the other workers' hits, how many
    other workers counted any): the hit is within the limit if `own.hits + others <= limit`."""
    db.lock(f"rate_usage:{own.limiter}:{own.window_start}:{own.client}")
    row = db.execute(
        "SELECT coalesce(sum(hits), 0), count(*) FROM rate_usage"
        " WHERE limiter = ? AND client = ? AND window_start = ? AND worker <> ?",
        [own.limiter, own.client, own.window_start, worker]).fetchone()
    others, workers = int(row[0]), int(row[1])
    # A refused hit is not counted: it must not use up another worker's share.
    counted = own.hits if own.hits + others <= limit else own.hits - 1
    record_hits(db, worker, [replace(own, hits=counted)])
    return others, workers


def others_hits(db: Transaction, worker: str, limiter: str, window_start: int,
                clients: Sequence[str]) -> Others:
    """The other workers' hits for `clients` in one window of `limiter`."""
    hits: dict[str, int] = {}
    for at in range(0, len(clients), CHUNK):
        chunk = list(clients[at:at + CHUNK])
        marks = ", ".join("?" * len(chunk))
        for client, count in db.execute(
                "SELECT client, sum(hits) FROM rate_usage"
                " WHERE limiter = ? AND window_start = ? AND worker <> ?"
                f" AND client IN ({marks}) GROUP BY client",
                [limiter, window_start, worker, *chunk]):
            hits[str(client)] = int(count)
    row = db.execute(
        "SELECT count(DISTINCT worker) FROM rate_usage"
        " WHERE limiter = ? AND window_start = ? AND worker <> ?",
        [limiter, window_start, worker]).fetchone()
    return Others(limiter, window_start, hits, int(row[0]))


def delete_ended(db: Transaction, limiter: str, before: int) -> int:
    """Forget `limiter`'s windows that started before `before` (epoch ms); how many rows."""
    return db.execute("DELETE FROM rate_usage WHERE limiter = ? AND window_start < ?",
                      [limiter, before]).rowcount
