"""Leases on their own (PostgreSQL): one holder at a time, a new epoch on every take, the
epoch check refusing a worker whose lease was taken over, and a periodic job run by one
worker of the deployment until it stops renewing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from eliza.bus import InProcessBus
from eliza.cluster.identity import WorkerIdentity
from eliza.cluster.ownership import Ownership
from eliza.store import leases as lq
from eliza.store.postgres import PgStore
from tests.backends import migrated_pg_store

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only, pytest.mark.cluster]


@pytest.fixture
async def store() -> AsyncIterator[PgStore]:
    async with migrated_pg_store("lease") as opened:
        yield opened


async def test_one_holder_at_a_time_and_a_new_epoch_on_each_take(store: PgStore) -> None:
    first = await store.write(lq.acquire, "agent:x", "w1", 300)
    assert first is not None
    assert await store.write(lq.acquire, "agent:x", "w2", 300) is None  # held
    await trio.sleep(0.4)  # w1 paused past its lease
    second = await store.write(lq.acquire, "agent:x", "w2", 5000)
    assert second is not None
    assert second.epoch == first.epoch + 1
    # w1 wakes up: it renews nothing, and a reply it tries to store is refused.
    assert await store.write(lq.renew, "w1", 5000) == {}

    def reply(db: object) -> None:
        first.check(db)  # type: ignore[arg-type]

    with pytest.raises(lq.LeaseLost):
        await store.write(reply)
    await store.write(lambda db: second.check(db))  # the new holder's check passes
    assert await store.write(lq.release, second)
    third = await store.write(lq.acquire, "agent:x", "w1", 5000)  # released: free at once
    assert third is not None
    assert third.epoch == second.epoch + 1


async def test_a_periodic_job_runs_in_one_worker_until_it_stops_renewing(
        store: PgStore) -> None:
    bus = InProcessBus()
    one = Ownership(store, bus, WorkerIdentity.new(), lease_seconds=1.0)
    two = Ownership(store, bus, WorkerIdentity.new(), lease_seconds=1.0)
    assert await one.hold_job("session sweeper")
    assert not await two.hold_job("session sweeper")
    assert await one.hold_job("session sweeper")  # still its own
    await trio.sleep(1.2)  # `one` died: it renewed nothing
    assert await two.hold_job("session sweeper")
    assert not await one.hold_job("session sweeper")  # it woke up: the job is elsewhere
