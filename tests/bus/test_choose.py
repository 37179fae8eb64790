"""`ELIZA_BUS` picks the bus, and the in-process bus takes part in the shared bus's
lifecycle (started, staged writes, gap handlers) without anything to do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import trio

from eliza.bus import AGENT_EVENTS, ChannelCleared, InProcessBus, bus_for
from eliza.bus.postgres import PostgresTransport
from eliza.bus.redis import RedisTransport
from eliza.bus.shared import SharedBus
from eliza.settings import Settings


class Untouchable:
    """A write transaction the in-process bus must not use."""

    dialect = "sqlite"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise AssertionError(f"the in-process bus ran {sql!r} in the transaction")


def test_eliza_bus_chooses_the_bus() -> None:
    assert isinstance(bus_for(Settings.from_env(environ={}), "w1"), InProcessBus)
    pg_url = "postgresql://u@db.example:5432/eliza"
    on_pg = bus_for(Settings.from_env(environ={"POSTGRES_URL": pg_url}), "w1")
    assert isinstance(on_pg, SharedBus)
    assert isinstance(on_pg.transport, PostgresTransport)
    assert on_pg.transport.url == pg_url
    assert on_pg.worker_id == "w1"
    env = {"ELIZA_BUS": "redis", "REDIS_URL": "redis://127.0.0.1:6390/2", "POSTGRES_URL": pg_url}
    on_redis = bus_for(Settings.from_env(environ=env), "w2")
    assert isinstance(on_redis, SharedBus)
    assert isinstance(on_redis.transport, RedisTransport)
    assert on_redis.transport.url == "redis://127.0.0.1:6390/2"
    assert on_redis.worker_id == "w2"
    memory = bus_for(Settings.from_env(environ={"ELIZA_BUS": "memory", "POSTGRES_URL": pg_url}),
                     "w3")
    assert isinstance(memory, InProcessBus)


async def test_the_in_process_bus_starts_at_once_and_publishes_staged_events_when_told(
) -> None:
    bus = InProcessBus()
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
    sub = bus.subscribe("hub")
    after_commit = bus.stage(Untouchable(), ChannelCleared("c1"))
    with pytest.raises(trio.WouldBlock):
        sub.receive_nowait()  # nothing before the caller says the write committed
    after_commit()
    assert sub.receive_nowait() == ChannelCleared("c1")


def test_cutting_off_addressed_subscriptions_ends_them_overflowed_and_no_other() -> None:
    bus = InProcessBus()
    inbox = bus.subscribe("agent:a", AGENT_EVENTS, address="a")
    hub = bus.subscribe("hub")
    bus.publish(ChannelCleared("c1"))
    assert bus.cut_off_addressed() == 1
    assert inbox.overflowed
    assert not hub.overflowed
    assert bus.addresses() == []
    # What it had already received is still read; then it ends.
    assert inbox.receive_nowait() == ChannelCleared("c1")
    with pytest.raises(trio.EndOfChannel):
        inbox.receive_nowait()
    bus.publish(ChannelCleared("c2"))
    assert [hub.receive_nowait(), hub.receive_nowait()] == [
        ChannelCleared("c1"), ChannelCleared("c2")]
