"""The bus over PostgreSQL LISTEN/NOTIFY between workers: events reach the other workers'
subscribers; one sent inside the transaction that stores its row arrives only if that
transaction commits, with the row visible; large events travel through `bus_payloads`;
and when the way to the database is cut, the gap is noticed, the agents' inboxes end so
they catch up from the store, gap handlers run, and events flow again afterwards."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import trio

from eliza.bus import AGENT_EVENTS, ChannelUpdated, LogRecords, MessageRoute, NewMessage
from eliza.bus.postgres import PostgresTransport, channel_for
from eliza.bus.shared import SharedBus
from eliza.errors import DatabaseUnavailable
from eliza.store.postgres import PgStore
from tests.bus.support import (
    BEAT,
    as_an_agent,
    cut_off,
    migrated_schema,
    next_event,
    pg_bus,
    publishes_from_a_process,
    running,
)
from tests.polling import wait_until
from tests.postgres.support import TcpProxy

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with migrated_schema() as schema_url:
        yield schema_url


def routed(text: str, *agents: str, size: int = 0) -> NewMessage:
    return NewMessage({"id": text, "channel_id": "c1", "content": text + "x" * size},
                      route=MessageRoute(frozenset(agents), {"id": "c1"}), origin="sid-9")


def count(url: str, sql: str, params: tuple[Any, ...] = ()) -> int:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(sql, params).fetchone()
        return int(row[0]) if row else 0


async def test_an_event_published_by_one_worker_reaches_the_subscribers_of_another(
        url: str) -> None:
    a, b = pg_bus(url), pg_bus(url)
    async with running(a, b):
        inbox = b.subscribe("agent:x", AGENT_EVENTS, address="agent-x")
        mine = a.subscribe("mine")
        a.publish(routed("hello", "agent-x"))
        got = await next_event(inbox)
        assert isinstance(got, NewMessage)
        assert got.message["content"] == "hello"
        assert got.route is not None
        assert got.route.agents == {"agent-x"}
        assert got.origin == "sid-9"
        assert await next_event(mine) == got
        b.publish(ChannelUpdated("c1", {"name": "n"}))
        assert await next_event(mine) == ChannelUpdated("c1", {"name": "n"})
        await trio.sleep(3 * BEAT)
        with pytest.raises(trio.WouldBlock):
            mine.receive_nowait()  # its own events came back from PostgreSQL, and were skipped


async def test_events_from_another_process_arrive(url: str) -> None:
    b = pg_bus(url)
    async with running(b):
        await publishes_from_a_process(b, "postgres", url, "-")


async def test_a_staged_event_arrives_only_if_its_transaction_commits_with_its_row(
        url: str) -> None:
    store = PgStore(url, pool_size=2, connect_timeout=5, statement_timeout=5)
    await store.open([])
    a, b = pg_bus(url), pg_bus(url)
    seen_rows: list[int] = []
    try:
        async with running(a, b):
            inbox = b.subscribe("agent:x", AGENT_EVENTS, address="agent-x")
            mine = a.subscribe("mine")

            def store_and_stage(tx: Any, key: str, fail: bool) -> Any:
                tx.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", [key])
                after_commit = a.stage(tx, routed(key, "agent-x"))
                if fail:
                    raise RuntimeError("rolled back")
                return after_commit

            with pytest.raises(RuntimeError):
                await store.write(store_and_stage, "lost", True)
            deliver = await store.write(store_and_stage, "kept", False)
            got = await next_event(inbox)
            assert isinstance(got, NewMessage)
            assert got.message["content"] == "kept"
            seen_rows.append(count(url, "SELECT count(*) FROM meta WHERE key = 'kept'"))
            # In the staging worker, the caller delivers after the commit, once.
            with pytest.raises(trio.WouldBlock):
                mine.receive_nowait()
            deliver()
            assert await next_event(mine) == got
            await trio.sleep(3 * BEAT)
            for sub in (inbox, mine):
                with pytest.raises(trio.WouldBlock):
                    sub.receive_nowait()  # never the rolled-back one, nor an echo
    finally:
        store.close()
    assert seen_rows == [1]
    assert count(url, "SELECT count(*) FROM meta WHERE key = 'lost'") == 0


async def test_a_large_event_travels_by_reference_and_its_row_is_pruned(url: str) -> None:
    sender = PostgresTransport(url, keep_payloads=0.5, prune_every=0.2)
    a = SharedBus(sender, "w-big", heartbeat_interval=BEAT)
    b = pg_bus(url)
    store = PgStore(url, pool_size=2, connect_timeout=5, statement_timeout=5)
    await store.open([])
    records = [{"msg": f"line {i} " + "ü" * 100, "i": i} for i in range(200)]
    try:
        async with running(a, b):
            inbox = b.subscribe("agent:x", AGENT_EVENTS, address="agent-x")
            logs = b.subscribe("logs", [LogRecords.name])
            a.publish(LogRecords("w-big", records))
            assert await next_event(logs) == LogRecords("w-big", records)
            big = routed("staged", "agent-x", size=20_000)
            deliver = await store.write(lambda tx: a.stage(tx, big))
            deliver()
            got = await next_event(inbox)
            assert isinstance(got, NewMessage)
            assert got.message == big.message
            assert count(url, "SELECT count(*) FROM bus_payloads") >= 1
            await wait_until(lambda: count(url, "SELECT count(*) FROM bus_payloads") == 0,
                        message="old payload rows were deleted")
    finally:
        store.close()


async def test_a_cut_to_postgresql_is_a_gap_the_worker_recovers_from(
        url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "eliza.bus")
    host, port = "127.0.0.1", 5432
    with TcpProxy(host, port) as proxy:
        cut_url = url.replace(f"{host}:{port}", f"127.0.0.1:{proxy.port}")
        assert cut_url != url
        a, b = pg_bus(cut_url), pg_bus(url)
        gaps: list[int] = []
        tries: list[int] = []

        async def on_gap(since_ms: int) -> None:
            tries.append(since_ms)
            if len(tries) == 1:  # the store is not back yet when the bus is
                raise DatabaseUnavailable("The database is unavailable: test; retry shortly")
            gaps.append(since_ms)

        a.on_gap(on_gap)
        async with running(a, b) as nursery:
            inbox = a.subscribe("agent:x", AGENT_EVENTS, address="agent-x")

            async def traffic() -> None:
                for i in range(10_000):
                    b.publish(routed(f"t{i}", "agent-x"))
                    await trio.sleep(0.02)

            nursery.start_soon(traffic)
            await next_event(inbox)
            cut_at = int(time.time() * 1000)
            proxy.cut()
            await wait_until(lambda: a.statistics()["in_gap"], message="the gap was detected")
            await trio.sleep(1.0)
            assert not gaps
            assert not cut_off(inbox)  # nothing is recovered while the gap lasts
            proxy.restore()
            await wait_until(lambda: gaps, within=8, message="the gap handler ran")
            assert cut_off(inbox)  # its agent re-reads what it owes from the store
            assert not a.statistics()["in_gap"]
            assert gaps[0] <= cut_at
            assert tries[0] == gaps[0]  # run again over the same span, not a later one
            # A store outage is retried with one line of its own, not a traceback.
            retried = [r for r in caplog.records if "gap handler" in r.getMessage()]
            assert retried
            assert all(not r.exc_info and r.levelno == logging.WARNING
                                   for r in retried)
            assert "gap began" in caplog.text
            assert "gap ended after" in caplog.text
            # Both ways work again.
            assert isinstance(await as_an_agent(a, "agent-x"), NewMessage)
            theirs = b.subscribe("hub-b", [ChannelUpdated.name])
            a.publish(ChannelUpdated("c1", {"after": True}))
            assert await next_event(theirs) == ChannelUpdated("c1", {"after": True})


def test_each_schema_has_a_channel_of_its_own() -> None:
    assert channel_for("t_abc") == "eliza_bus:t_abc"
    assert channel_for(None) == "eliza_bus:public"
    long = "s" * 63
    assert len(channel_for(long).encode()) <= 63
    assert channel_for(long) != channel_for(long[:-1] + "t")
    assert channel_for(uuid.uuid4().hex) != channel_for(uuid.uuid4().hex)
