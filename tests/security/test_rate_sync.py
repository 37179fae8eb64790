"""The limiters of two workers (each with its own connections to one PostgreSQL schema and
its sync task running) share their counts: hammered together, at a small limit or a large
one, they accept the limit within 10%; what one worker counted shows in the other's
headers after a sync; rows of ended windows are deleted; while the database is away each
worker decides on what it knows, without waiting on it."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import trio

from eliza.clock import now_ms
from eliza.errors import RateLimited
from eliza.security.rate_sync import RateSync
from eliza.security.ratelimit import RateLimiter
from eliza.settings import RateLimit
from eliza.store import core_migrations
from eliza.store.postgres import PgStore
from eliza.store.rate_usage import Hits, record_hits
from tests.backends import admin_url, own_schema, with_search_path
from tests.polling import wait_until
from tests.postgres.support import TcpProxy

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]

WINDOW = 3600


@dataclass
class Worker:
    store: PgStore
    sync: RateSync

    def limiter(self, limit: int, name: str = "api") -> RateLimiter:
        return RateLimiter(name, RateLimit(limit, WINDOW), "RATE_LIMIT_EXCEEDED", "slow down",
                           self.sync)


@pytest.fixture
async def workers() -> AsyncIterator[list[Worker]]:
    left = WINDOW - time.time() % WINDOW  # windows are wall-clock aligned: stay in one
    if left < 10:
        await trio.sleep(left + 0.5)
    with own_schema("sync") as (_, url):
        found = []
        for i in range(2):
            store = PgStore(url, pool_size=4)
            await store.open([core_migrations])
            found.append(Worker(store, RateSync(store, f"worker-{i}", interval=0.05)))
        try:
            yield found
        finally:
            for worker in found:
                worker.store.close()


async def hammer(limiters: list[RateLimiter], client: str, requests: int) -> int:
    """`requests` hits from 8 concurrent callers spread over the limiters; how many passed."""
    accepted = sent = 0

    async def caller() -> None:
        nonlocal accepted, sent
        while sent < requests:
            sent += 1
            try:
                await random.choice(limiters).hit(client)
            except RateLimited:
                continue
            accepted += 1

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(caller)
    return accepted


@pytest.mark.parametrize("limit", [5, 40, 1000])
async def test_two_workers_accept_the_limit_within_ten_percent(
        workers: list[Worker], limit: int) -> None:
    limiters = [w.limiter(limit) for w in workers]
    async with trio.open_nursery() as nursery:
        for worker in workers:
            await nursery.start(worker.sync.run)
        accepted = await hammer(limiters, "203.0.113.1", 2 * limit + 10)
        nursery.cancel_scope.cancel()
    assert abs(accepted - limit) <= max(1, limit // 10), (accepted, limit)


async def test_one_worker_sees_what_the_other_counted_after_a_sync(
        workers: list[Worker]) -> None:
    first, second = (w.limiter(1000) for w in workers)
    for _ in range(50):
        await first.hit("203.0.113.2")
    await workers[0].sync.sync_once()
    # The second worker has not seen the client yet; once it has, its sync reads the rest.
    assert (await second.hit("203.0.113.2"))["RateLimit-Remaining"] == "999"
    await workers[1].sync.sync_once()
    assert (await second.hit("203.0.113.2"))["RateLimit-Remaining"] == str(1000 - 52)


async def test_a_client_over_the_limit_is_refused_with_headers_until_its_window_ends(
        workers: list[Worker]) -> None:
    first, second = (w.limiter(3) for w in workers)
    for limiter in (first, second, first):
        await limiter.hit("203.0.113.3")
    for limiter in (second, first):
        with pytest.raises(RateLimited) as refused:
            await limiter.hit("203.0.113.3")
        headers = refused.value.headers
        assert headers["RateLimit-Remaining"] == "0"
        assert headers["RateLimit-Limit"] == "3"
        assert 0 < int(headers["Retry-After"]) <= WINDOW


async def test_rows_of_ended_windows_are_deleted(workers: list[Worker]) -> None:
    limiter = workers[0].limiter(100)
    await limiter.hit("203.0.113.4")
    current = limiter.window_start(now_ms())
    old = current - 2 * WINDOW * 1000
    await workers[1].store.write(record_hits, "worker-1",
                                 [Hits("api", "203.0.113.4", old, 7)])
    await workers[0].sync.sync_once()
    await workers[0].sync.forget_ended()
    left = await workers[0].store.read(
        lambda db: [(r["window_start"], r["worker"], r["hits"]) for r in db.query(
            "SELECT window_start, worker, hits FROM rate_usage ORDER BY window_start")])
    assert left == [(current, "worker-0", 1)]


async def test_while_the_database_is_away_the_limits_are_decided_locally() -> None:
    with own_schema("away") as (schema, _), TcpProxy("127.0.0.1", 5432) as proxy:
        host_db = admin_url().split("@", 1)[1].split("/", 1)[1]
        url = with_search_path(f"postgresql://postgres@127.0.0.1:{proxy.port}/{host_db}",
                               schema)
        store = PgStore(url, pool_size=2, connect_timeout=1, statement_timeout=1)
        await store.open([core_migrations])
        try:
            sync = RateSync(store, "worker-0")
            limiter = Worker(store, sync).limiter(10)
            proxy.cut()
            accepted = 0
            with trio.fail_after(5):  # one failed round trip, then none
                for _ in range(15):
                    try:
                        await limiter.hit("203.0.113.5")
                    except RateLimited:
                        continue
                    accepted += 1
            assert accepted == 10
            proxy.restore()
            # Back: the next sync writes what was counted meanwhile, exact counts resume.
            await wait_until(_synced(sync), within=10, message="a sync after the outage")
            assert sync.available
            counted = await store.read(lambda db: db.execute(
                "SELECT hits FROM rate_usage WHERE client = '203.0.113.5'").fetchone()[0])
            assert counted == 10
        finally:
            store.close()


def _synced(sync: RateSync) -> Callable[[], Awaitable[bool]]:
    async def attempt() -> bool:
        await sync.sync_once()  # a failed one says so in `available`
        return sync.available
    return attempt
