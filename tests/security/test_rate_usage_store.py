"""The rate-usage queries on both stores: a worker's rows only go up, an exact count sees the
other workers' hits and leaves a refused hit uncounted, reads name the other workers' hits
per client, and ended windows are deleted."""

from __future__ import annotations

from typing import Any

from eliza.store import Store
from eliza.store.rate_usage import Hits, count_exactly, delete_ended, others_hits, record_hits

HOUR = 3_600_000
NOW = 1_700_000_000_000 - 1_700_000_000_000 % HOUR


async def rows(store: Store) -> list[tuple[Any, ...]]:
    return await store.read(lambda db: [
        (r["client"], r["window_start"], r["worker"], r["hits"]) for r in db.query(
            "SELECT client, window_start, worker, hits FROM rate_usage"
            " ORDER BY client, window_start, worker")])


async def test_a_workers_count_only_goes_up(store: Store) -> None:
    await store.write(record_hits, "w1", [Hits("api", "a", NOW, 5), Hits("api", "b", NOW, 1)])
    await store.write(record_hits, "w1", [Hits("api", "a", NOW, 3)])  # a late, older write
    await store.write(record_hits, "w2", [Hits("api", "a", NOW, 2)])
    assert await rows(store) == [("a", NOW, "w1", 5), ("a", NOW, "w2", 2), ("b", NOW, "w1", 1)]


async def test_an_exact_count_sees_the_others_and_leaves_a_refusal_uncounted(
        store: Store) -> None:
    await store.write(record_hits, "w2", [Hits("api", "a", NOW, 7), Hits("files", "a", NOW, 9)])
    await store.write(record_hits, "w3", [Hits("api", "a", NOW, 1)])
    assert await store.write(count_exactly, "w1", Hits("api", "a", NOW, 2), 10) == (8, 2)
    assert await store.write(count_exactly, "w1", Hits("api", "a", NOW, 3), 10) == (8, 2)
    # The 3rd hit of w1 was the deployment's 11th: refused, and w1 still counts 2.
    assert ("a", NOW, "w1", 2) in await rows(store)


async def test_reads_give_the_other_workers_hits_per_client(store: Store) -> None:
    await store.write(record_hits, "w1", [Hits("api", "a", NOW, 4)])
    await store.write(record_hits, "w2", [Hits("api", "a", NOW, 3), Hits("api", "b", NOW, 1),
                                          Hits("api", "c", NOW - HOUR, 5)])
    await store.write(record_hits, "w3", [Hits("api", "a", NOW, 2)])
    others = await store.read(others_hits, "w1", "api", NOW, ["a", "b", "c", "d"])
    assert (others.hits, others.workers) == ({"a": 5, "b": 1}, 2)
    many = [f"client-{i}" for i in range(1200)] + ["a"]  # more than one IN list
    assert (await store.read(others_hits, "w1", "api", NOW, many)).hits == {"a": 5}


async def test_ended_windows_are_deleted(store: Store) -> None:
    await store.write(record_hits, "w1", [Hits("api", "a", NOW - HOUR, 4),
                                          Hits("api", "a", NOW, 1),
                                          Hits("files", "a", NOW - HOUR, 2)])
    assert await store.write(delete_ended, "api", NOW) == 1
    assert await rows(store) == [("a", NOW - HOUR, "w1", 2), ("a", NOW, "w1", 1)]
