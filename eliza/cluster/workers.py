"""The directory of the deployment's workers: where each one listens for the requests the
others carry to it. Each worker writes its own row and heartbeat; every worker reads the
live rows, so any of them can find the holder of a session or an agent.

Only a deployment of several processes (`ClusterSettings.shared`) keeps a directory; on one
process `run` returns at once and `lookup` knows nobody.
"""

from __future__ import annotations

import logging
import math
from typing import Final

import trio

from ..clock import now_ms
from ..errors import DatabaseUnavailable
from ..store.protocols import Store
from ..store.workers import WorkerRow, beat, live_workers, remove
from .identity import WorkerIdentity
from .settings import ClusterSettings

log = logging.getLogger(__name__)

# Heartbeats per lease: a worker stays listed through two missed beats.
BEATS_PER_LEASE: Final = 3
# A row not seen for this many leases is deleted (a worker that was killed).
PRUNE_AFTER_LEASES: Final = 3
# An id the store did not know is not looked for again for this long (seconds).
MISS_REFRESH_INTERVAL: Final = 1.0
MAX_ABSENT: Final = 1024
# How long a stopping worker tries to take its row out (seconds).
LEAVE_TIMEOUT: Final = 3.0


class WorkerDirectory:
    """This worker's row in the `workers` table and a cache of the others'."""

    def __init__(self, store: Store, identity: WorkerIdentity, settings: ClusterSettings
                 ) -> None:
        self.store = store
        self.identity = identity
        self.settings = settings
        self._internal_url: str | None = None
        self._advertised = trio.Event()
        self._started_at = now_ms()
        self._known: dict[str, WorkerRow] = {}
        self._read_at = -math.inf  # when the read of the rows in `_known` began (trio time)
        self._reading = trio.Lock()
        # Ids the store did not know either, and workers that could not be reached, and
        # when (see `lookup` and `forget`).
        self._absent: dict[str, float] = {}
        self._unreachable: dict[str, float] = {}
        self._registered = trio.Event()

    @property
    def active(self) -> bool:
        return self.settings.shared

    @property
    def internal_url(self) -> str | None:
        """Where the other workers reach this one (None until the listener is up)."""
        return self._internal_url

    @property
    def _lease_ms(self) -> int:
        return int(self.settings.lease_seconds * 1000)

    def advertise(self, internal_url: str) -> None:
        """Publish this worker's internal address (once its listener is up)."""
        if self._internal_url is not None:
            raise RuntimeError(f"already advertised at {self._internal_url}")
        self._internal_url = internal_url
        self._advertised.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Once advertised, register this worker and keep its heartbeat until cancelled,
        then take its row out. A database that is away delays heartbeats, it never ends
        the task (the row is rewritten whole once the database is back)."""
        task_status.started()
        if not self.active:
            return
        await self._advertised.wait()
        interval = self.settings.lease_seconds / BEATS_PER_LEASE
        next_prune = 0
        try:
            while True:
                now = now_ms()
                prune_before = None
                if now >= next_prune:
                    prune_before = now - PRUNE_AFTER_LEASES * self._lease_ms
                    next_prune = now + self._lease_ms
                read_at = trio.current_time()
                try:
                    rows = await self.store.write(beat, self._row(now), now - self._lease_ms,
                                                  prune_before)
                except DatabaseUnavailable as exc:
                    log.warning("worker %s: heartbeat failed (%s); retrying in %.1f s",
                                self.identity.id, exc, interval)
                else:
                    self._remember(rows, read_at)
                    self._registered.set()
                await trio.sleep(interval)
        finally:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + LEAVE_TIMEOUT):
                try:
                    await self.store.write(remove, self.identity.id)
                except DatabaseUnavailable as exc:
                    log.warning("worker %s: could not leave the directory (%s); the others "
                                "forget it after %s leases", self.identity.id, exc,
                                PRUNE_AFTER_LEASES)

    async def wait_registered(self) -> None:
        """Until this worker's row has been written (the others can find it)."""
        await self._registered.wait()

    def _row(self, now: int) -> WorkerRow:
        assert self._internal_url is not None
        return WorkerRow(self.identity.id, self.identity.host, self.identity.pid,
                         self._internal_url, self._started_at, now)

    def _remember(self, rows: list[WorkerRow], read_at: float) -> None:
        if read_at >= self._read_at:
            self._known = {row.id: row for row in rows}
            self._read_at = read_at

    async def lookup(self, worker_id: str) -> str | None:
        """The internal URL of live worker `worker_id` (this one included), or None.

        Answered from the rows the heartbeat last read. An id not found there (or found
        stale) reads the store again, unless a read began since this lookup did (lookups
        that miss together share one read), or the id was missing or its worker could not
        be reached less than MISS_REFRESH_INTERVAL ago (ids a client makes up cost one read
        each, one at a time).
        """
        if not self.active:
            return None
        if worker_id == self.identity.id:
            return self._internal_url
        found = self._live(worker_id)
        if found is None and self._may_ask(worker_id):
            asked_at = trio.current_time()
            async with self._reading:
                if self._read_at < asked_at:
                    read_at = trio.current_time()
                    try:
                        rows = await self.store.read(live_workers, now_ms() - self._lease_ms)
                    except DatabaseUnavailable as exc:
                        # What the heartbeat read last is the best there is until it is back.
                        log.info("worker lookup of %s from the cache: %s", worker_id, exc)
                    else:
                        self._remember(rows, read_at)
            found = self._live(worker_id)
            if found is None:
                if len(self._absent) >= MAX_ABSENT:
                    self._absent.clear()
                self._absent[worker_id] = trio.current_time()
        return found.internal_url if found is not None else None

    def _may_ask(self, worker_id: str) -> bool:
        return not (_recent(self._absent, worker_id) or _recent(self._unreachable, worker_id))

    def _live(self, worker_id: str) -> WorkerRow | None:
        row = self._known.get(worker_id)
        if row is None or row.seen_at < now_ms() - self._lease_ms:
            return None
        return None if _recent(self._unreachable, worker_id) else row

    def forget(self, worker_id: str) -> None:
        """A worker could not be reached: it counts as gone for MISS_REFRESH_INTERVAL,
        however fresh its row (a killed worker's row stays until it is pruned, and a host
        that is down makes every attempt wait for the connect timeout)."""
        if len(self._unreachable) >= MAX_ABSENT:
            self._unreachable.clear()
        self._unreachable[worker_id] = trio.current_time()

    async def live(self) -> list[WorkerRow]:
        """Every live worker of the deployment (this one included once registered), read
        from the store now."""
        if not self.active:
            return []
        read_at = trio.current_time()
        rows = await self.store.read(live_workers, now_ms() - self._lease_ms)
        self._remember(rows, read_at)
        return rows


def _recent(marks: dict[str, float], worker_id: str) -> bool:
    """Whether `worker_id` was marked less than MISS_REFRESH_INTERVAL ago."""
    marked = marks.get(worker_id)
    return marked is not None and trio.current_time() - marked < MISS_REFRESH_INTERVAL
