"""The live workers of a deployment (see migration m008): one row per worker process, with
the internal address where the others carry the requests it must answer (the Engine.IO
sessions it holds, the agents it runs), and when it was last seen (its heartbeat).

Times are epoch milliseconds from the writing worker's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from .protocols import Transaction


@dataclass(frozen=True)
class WorkerRow:
    id: str
    host: str
    pid: int
    internal_url: str
    started_at: int
    seen_at: int


def register(db: Transaction, row: WorkerRow) -> None:
    """Add this worker or mark it seen at `row.seen_at` (its row comes back whole if it
    was pruned while the worker could not reach the database)."""
    db.execute(
        "INSERT INTO workers (id, host, pid, internal_url, started_at, seen_at)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET internal_url = excluded.internal_url,"
        " seen_at = excluded.seen_at",
        [row.id, row.host, row.pid, row.internal_url, row.started_at, row.seen_at],
    )


def remove(db: Transaction, worker_id: str) -> None:
    db.execute("DELETE FROM workers WHERE id = ?", [worker_id])


def prune(db: Transaction, seen_before: int) -> int:
    """Forget the workers not seen since `seen_before`; how many there were."""
    return int(db.execute("DELETE FROM workers WHERE seen_at < ?", [seen_before]).rowcount)


def live_workers(db: Transaction, seen_since: int) -> list[WorkerRow]:
    """The workers seen since `seen_since`, oldest first."""
    return [
        WorkerRow(str(r["id"]), str(r["host"]), int(r["pid"]), str(r["internal_url"]),
                  int(r["started_at"]), int(r["seen_at"]))
        for r in db.query(
            "SELECT id, host, pid, internal_url, started_at, seen_at FROM workers"
            " WHERE seen_at >= ? ORDER BY started_at, id", [seen_since])
    ]


def beat(db: Transaction, row: WorkerRow, live_since: int, prune_before: int | None
         ) -> list[WorkerRow]:
    """One heartbeat in one transaction: this worker's row (re)written as `row`, the
    workers not seen since `prune_before` forgotten (when given), and the live ones read."""
    register(db, row)
    if prune_before is not None:
        prune(db, prune_before)
    return live_workers(db, live_since)
