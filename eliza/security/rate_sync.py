"""Rate limits for a whole deployment: each worker's limiters count locally (see
eliza/security/ratelimit.py) and this task, about once a second, writes their counts to the
`rate_usage` table and reads the other workers' counts for the clients it saw; now and then
it forgets the windows that ended. The limiters call `count_exactly` when a client nears
its limit."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import trio

from ..clock import now_ms
from ..errors import DatabaseUnavailable
from ..store.rate_usage import Hits, Others, count_exactly, delete_ended, others_hits, record_hits

if TYPE_CHECKING:
    from ..store import Store, Transaction
    from .ratelimit import RateLimiter

SYNC_INTERVAL = 1.0
# Rows of a window are kept this long after it ends: a worker whose clock runs a little
# behind may still be counting in it.
ENDED_GRACE_MS = 10_000
# How often a worker deletes the rows of ended windows (ms): windows last minutes, and
# fewer deletes mean fewer workers deleting the same rows at once.
CLEANUP_EVERY_MS = 30_000


class RateSync:
    """The deployment-wide side of the rate limiters of one worker (`worker_id`)."""

    def __init__(self, store: Store, worker_id: str, interval: float = SYNC_INTERVAL) -> None:
        self.store = store
        self.worker_id = worker_id
        self.interval = interval
        self.limiters: list[RateLimiter] = []
        # False from a failed database call to the next sync that succeeds: meanwhile the
        # limiters decide on what this worker knows instead of waiting on the database.
        self.available = True
        # Spread over the interval, so the workers of a deployment do not delete together.
        self._next_cleanup = now_ms() + random.randrange(CLEANUP_EVERY_MS)

    def track(self, limiter: RateLimiter) -> None:
        self.limiters.append(limiter)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Sync every `interval` seconds until cancelled."""
        task_status.started()
        while True:
            await trio.sleep(self.interval)
            await self.sync_once()
            if now_ms() >= self._next_cleanup:
                self._next_cleanup = now_ms() + CLEANUP_EVERY_MS
                await self.forget_ended()

    async def count_exactly(self, limiter: str, client: str, window_start: int, own: int,
                            limit: int) -> tuple[int, int] | None:
        """Count this worker's `own`-th hit of the client against the database (see
        `eliza.store.rate_usage.count_exactly`): the other workers' hits and how many
        they are; None while the database is unavailable."""
        if not self.available:
            return None
        try:
            return await self.store.write(count_exactly, self.worker_id,
                                          Hits(limiter, client, window_start, own), limit)
        except DatabaseUnavailable:
            self.available = False  # the store logs the outage
            return None

    async def sync_once(self) -> None:
        """Write what the limiters counted since the last sync and read the other workers'
        counts for the same clients."""
        now = now_ms()
        taken = [(limiter, *limiter.take_dirty(now)) for limiter in self.limiters]
        rows = [Hits(limiter.name, client, start, own)
                for limiter, start, counted in taken for client, own in counted]
        reads = [(limiter.name, start, [client for client, _ in counted])
                 for limiter, start, counted in taken]
        try:
            others = await self.store.write(self._exchange, rows, reads)
        except DatabaseUnavailable:
            self.available = False
            for limiter, _, counted in taken:
                limiter.give_back([client for client, _ in counted])
            return
        self.available = True
        for (limiter, start, counted), seen in zip(taken, others, strict=True):
            limiter.synced(start, counted, seen.hits, seen.workers)

    def _exchange(self, db: Transaction, rows: list[Hits],
                  reads: list[tuple[str, int, list[str]]]) -> list[Others]:
        record_hits(db, self.worker_id, rows)
        return [others_hits(db, self.worker_id, name, start, clients)
                for name, start, clients in reads]

    async def forget_ended(self) -> None:
        """Delete the rows of the windows that ended (a little while ago)."""
        now = now_ms()
        ended = [(limiter.name, limiter.window_start(now - ENDED_GRACE_MS))
                 for limiter in self.limiters]
        try:
            await self.store.write(_delete_all_ended, ended)
        except DatabaseUnavailable:
            self.available = False  # the next cleanup deletes them


def _delete_all_ended(db: Transaction, ended: list[tuple[str, int]]) -> None:
    for name, before in ended:
        delete_ended(db, name, before)
