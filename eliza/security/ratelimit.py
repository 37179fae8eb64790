"""Fixed-window rate limits per client IP, with the standard RateLimit-* headers
(as express-rate-limit sends them with `standardHeaders: true`).

One process counts in memory; a client's window starts at its first request.

A deployment of several workers counts for the whole deployment (`RateSync` attached): the
windows are aligned to the wall clock, so every worker names them alike, and a limit does not
multiply by the number of workers. Each worker still counts locally, and a request costs no
round trip while the deployment-wide estimate (its own hits plus the other workers' as last
synced) is comfortably under the limit and this worker has told the database of all but a few
of its hits. Past that (the last fifth of the limit, or too many hits not yet written) the
request is counted exactly against the database, and a client found over the limit is then
refused locally, with no more round trips, until its window ends.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from ..clock import now_ms
from ..errors import RateLimited
from ..settings import RateLimit

if TYPE_CHECKING:
    from .rate_sync import RateSync

# Forget idle clients once this many are tracked, so the table stays bounded.
PRUNE_AT = 10_000
# The part of a limit within which every request is counted against the database.
EXACT_PART = 0.2


@dataclass
class _Window:
    started: float
    count: int


@dataclass
class _Usage:
    """One client's window in a deployment: this worker's hits, how many of them the
    database holds, the other workers' hits as last read, and whether it is refused."""

    window_start: int
    own: int = 0
    written: int = 0
    others: int = 0
    blocked: bool = False
    exact: trio.Lock | None = None


class RateLimiter:
    def __init__(self, name: str, rule: RateLimit, code: str, message: str,
                 sync: RateSync | None = None) -> None:
        self.name = name
        self.rule = rule
        self.code = code
        self.message = message
        self._clients: dict[str, _Window] = {}
        self._policy = f"{rule.limit};w={int(rule.window)}"
        # Deployment-wide counting (see the module's docstring).
        self.sync = sync
        self.window_ms = max(1, int(rule.window * 1000))
        self.margin = max(1, math.ceil(rule.limit * EXACT_PART))
        self.other_workers = 0
        self._usage: dict[str, _Usage] = {}
        self._dirty: set[str] = set()
        if sync is not None:
            sync.track(self)

    async def hit(self, client: str) -> dict[str, str]:
        """Count one request; return the headers to send, or raise RateLimited."""
        if self.sync is None:
            return self._hit_here(client)
        return await self._hit_shared(client, self.sync)

    def _headers(self, remaining: int, reset: int) -> dict[str, str]:
        return {
            "RateLimit-Policy": self._policy,
            "RateLimit-Limit": str(self.rule.limit),
            "RateLimit-Remaining": str(max(0, remaining)),
            "RateLimit-Reset": str(reset),
        }

    def _refusal(self, headers: dict[str, str]) -> RateLimited:
        return RateLimited(self.message, code=self.code,
                           headers={**headers, "Retry-After": headers["RateLimit-Reset"]})

    # -- one process ----------------------------------------------------------------------

    def _hit_here(self, client: str) -> dict[str, str]:
        now = time.monotonic()
        window = self._clients.get(client)
        if window is None or now - window.started >= self.rule.window:
            if len(self._clients) >= PRUNE_AT:
                self._prune(now)
            window = self._clients[client] = _Window(now, 0)
        window.count += 1
        reset = max(0, math.ceil(window.started + self.rule.window - now))
        headers = self._headers(self.rule.limit - window.count, reset)
        if window.count > self.rule.limit:
            raise self._refusal(headers)
        return headers

    def _prune(self, now: float) -> None:
        self._clients = {
            c: w for c, w in self._clients.items() if now - w.started < self.rule.window
        }

    # -- a deployment ---------------------------------------------------------------------

    def window_start(self, at_ms: int) -> int:
        """The start (epoch ms) of the wall-clock window holding `at_ms`."""
        return at_ms - at_ms % self.window_ms

    @property
    def unwritten_allowance(self) -> int:
        """How many of its hits a worker may count before it must tell the database: the
        other workers' unwritten hits are what a count against the database cannot see, so
        together they stay well within the exact part of the limit."""
        return max(1, self.margin // (3 * (self.other_workers + 1)))

    async def _hit_shared(self, client: str, sync: RateSync) -> dict[str, str]:
        now = now_ms()
        start = self.window_start(now)
        usage = self._usage.get(client)
        if usage is None or usage.window_start != start:
            if len(self._usage) >= PRUNE_AT:
                self._usage = {c: u for c, u in self._usage.items()
                               if u.window_start == start}
            usage = self._usage[client] = _Usage(start)
        reset = max(0, math.ceil((start + self.window_ms - now) / 1000))
        limit = self.rule.limit
        own = usage.own + 1
        if usage.blocked:
            raise self._refusal(self._headers(0, reset))
        self._dirty.add(client)
        if (own + usage.others <= limit - self.margin
                and own - usage.written <= self.unwritten_allowance):
            usage.own = own
            return self._headers(limit - own - usage.others, reset)
        # One exact count at a time per client: each decides one hit, in order, so hits
        # still undecided never count against the limit.
        if usage.exact is None:
            usage.exact = trio.Lock()
        async with usage.exact:
            if usage.blocked:
                raise self._refusal(self._headers(0, reset))
            usage.own = own = usage.own + 1
            counted = await sync.count_exactly(self.name, client, start, own, limit)
            # None: the database is unavailable, so decide on what this worker knows.
            others = usage.others if counted is None else counted[0]
            within = own + others <= limit
            if counted is not None:
                usage.written = max(usage.written, own if within else own - 1)
                usage.others = max(usage.others, others)
                self.other_workers = max(self.other_workers, counted[1])
            headers = self._headers(limit - own - others, reset)
            if not within:
                # A refused hit is not counted (see `count_exactly`); the client is
                # refused here, with no more round trips, until its window ends.
                usage.own -= 1
                usage.blocked = True
                raise self._refusal(headers)
            return headers

    # -- what the sync task reads and writes --------------------------------------------

    def take_dirty(self, at_ms: int) -> tuple[int, list[tuple[str, int]]]:
        """The current window's start and, for each client counted here since the last
        call, its hits in it: what the sync writes and reads the others' hits for."""
        start = self.window_start(at_ms)
        dirty, self._dirty = self._dirty, set()
        rows = []
        for client in dirty:
            usage = self._usage.get(client)
            if usage is not None and usage.window_start == start:
                rows.append((client, usage.own))
        return start, rows

    def give_back(self, clients: list[str]) -> None:
        """A sync that failed: these clients are synced next time."""
        self._dirty.update(clients)

    def synced(self, window_start: int, written: list[tuple[str, int]],
               others: dict[str, int], workers: int) -> None:
        """What a sync wrote for this window, and what it read of the other workers."""
        for client, own in written:
            usage = self._usage.get(client)
            if usage is not None and usage.window_start == window_start:
                usage.written = max(usage.written, own)
                usage.others = max(usage.others, others.get(client, 0))
        self.other_workers = workers
