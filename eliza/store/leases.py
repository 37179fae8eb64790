"""Leases: which worker runs each agent (`agent:<id>`) or periodic job (`job:<name>`).

A lease has a holder, an expiry and an epoch, the fencing token bumped every time the lease
changes hands. The holder renews its leases well before they expire; a worker that stops
renewing (killed, paused, cut off) loses them when they expire, and another takes them with
a new epoch. An agent's reply transaction checks the epoch its worker took (`Fence.check`),
so a worker that paused past its lease can never store a second reply.

Times come from the database's clock, never the worker's, so hosts with skewed clocks agree
on who holds what.
"""

from __future__ import annotations

from dataclasses import dataclass

from .protocols import Transaction

_NOW = {
    "postgresql": "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)",
    "sqlite": "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
}


def agent_lease(agent_id: str) -> str:
    return f"agent:{agent_id}"


def job_lease(job: str) -> str:
    return f"job:{job}"


class LeaseLost(Exception):
    """This worker no longer holds the lease its work was started under."""


@dataclass(frozen=True)
class Fence:
    """A lease as this worker took it: the epoch its writes must still find."""

    lease: str
    holder: str
    epoch: int

    def check(self, db: Transaction) -> None:
        """Raise LeaseLost unless the lease still has this holder and epoch. On PostgreSQL
        the row is share-locked until the transaction ends, so a worker taking the lease
        over waits for this transaction, and this one never commits after a takeover."""
        lock = " FOR SHARE" if db.dialect == "postgresql" else ""
        rows = list(db.query(
            "SELECT 1 FROM leases WHERE name = ? AND holder = ? AND epoch = ? AND released = 0"
            + lock, [self.lease, self.holder, self.epoch]))
        if not rows:
            raise LeaseLost(f"{self.lease}: epoch {self.epoch} of {self.holder} is over")


@dataclass(frozen=True)
class Holding:
    """A lease as the table shows it now."""

    lease: str
    holder: str
    epoch: int
    live: bool  # neither expired nor released


def acquire(db: Transaction, lease: str, holder: str, ttl_ms: int) -> Fence | None:
    """Take `lease` if nobody holds it (never taken, expired or released); None otherwise.
    Every take bumps the epoch, even by the previous holder."""
    now = _NOW[db.dialect]
    row = db.execute(
        f"""INSERT INTO leases (name, holder, epoch, expires_at, released)
            VALUES (?, ?, 1, {now} + ?, 0)
            ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                epoch = leases.epoch + 1, expires_at = excluded.expires_at, released = 0
            WHERE leases.released = 1 OR leases.expires_at < {now}
            RETURNING epoch""",
        [lease, holder, ttl_ms]).fetchone()
    return None if row is None else Fence(lease, holder, int(row[0]))


def renew(db: Transaction, holder: str, ttl_ms: int) -> dict[str, int]:
    """Extend every lease `holder` still holds; returns them (name -> epoch). A lease that
    expired meanwhile is not renewed: another worker may have it already."""
    now = _NOW[db.dialect]
    rows = db.execute(
        f"""UPDATE leases SET expires_at = {now} + ?
            WHERE holder = ? AND released = 0 AND expires_at >= {now}
            RETURNING name, epoch""",
        [ttl_ms, holder]).fetchall()
    return {str(name): int(epoch) for name, epoch in rows}


def release(db: Transaction, fence: Fence) -> bool:
    """Give the lease up now (others may take it at once); False when it was not held."""
    now = _NOW[db.dialect]
    return bool(db.execute(
        f"""UPDATE leases SET released = 1, expires_at = {now}
            WHERE name = ? AND holder = ? AND epoch = ? AND released = 0""",
        [fence.lease, fence.holder, fence.epoch]).rowcount)


def release_all(db: Transaction, holder: str) -> int:
    """Give up every lease of `holder` (a worker shutting down)."""
    now = _NOW[db.dialect]
    return int(db.execute(
        f"UPDATE leases SET released = 1, expires_at = {now} WHERE holder = ? AND released = 0",
        [holder]).rowcount)


def holdings(db: Transaction, prefix: str) -> dict[str, Holding]:
    """Every lease whose name starts with `prefix`, by name."""
    now = _NOW[db.dialect]
    rows = db.query(
        f"""SELECT name, holder, epoch,
                   CASE WHEN released = 0 AND expires_at >= {now} THEN 1 ELSE 0 END AS live
            FROM leases WHERE name >= ? AND name < ?""",
        [prefix, prefix + "\uffff"])
    return {str(r["name"]): Holding(str(r["name"]), str(r["holder"]), int(r["epoch"]),
                                    bool(r["live"])) for r in rows}
