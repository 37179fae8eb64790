"""The bus over Redis Streams between workers: events reach the other workers' subscribers,
large ones intact; a publisher never waits on the sender; and when Redis restarts (it
keeps nothing) or a worker drops events, the workers that may have missed some notice,
end their agents' inboxes so the agents catch up from the store, and run their gap
handlers; events sent after that arrive again."""

from __future__ import annotations

import logging
import time

import pytest
import trio

from eliza.bus import (
    AGENT_EVENTS,
    ChannelCleared,
    LogRecords,
    MessageRoute,
    NewMessage,
)
from eliza.bus.redis import RedisTransport
from eliza.bus.shared import SharedBus
from eliza.errors import StartupError
from tests.bus.support import (
    SHARED_REDIS,
    RedisServer,
    as_an_agent,
    coredis_leaks_expected,
    cut_off,
    next_event,
    own_stream,
    publishes_from_a_process,
    redis_bus,
    running,
)
from tests.polling import wait_until


def routed(text: str, *agents: str) -> NewMessage:
    return NewMessage({"id": text, "channel_id": "c1", "content": text},
                      route=MessageRoute(frozenset(agents), {"id": "c1"}), origin="sid-1")


async def test_an_event_published_by_one_worker_reaches_the_subscribers_of_another() -> None:
    async with own_stream() as stream:
        a, b = redis_bus(SHARED_REDIS, stream), redis_bus(SHARED_REDIS, stream)
        async with running(a, b):
            inbox = b.subscribe("agent:x", AGENT_EVENTS, address="agent-x")
            other_inbox = b.subscribe("agent:y", AGENT_EVENTS, address="agent-y")
            hub = b.subscribe("hub")
            mine = a.subscribe("hub-a")
            a.publish(routed("hello", "agent-x"))
            got = await next_event(inbox)
            assert isinstance(got, NewMessage)
            assert got.message["content"] == "hello"
            assert got.origin == "sid-1"
            assert got.route is not None
            assert got.route.agents == {"agent-x"}
            assert (await next_event(hub)) == got
            a.publish(ChannelCleared("c1"))
            assert (await next_event(hub)) == ChannelCleared("c1")
            # The publisher's own subscribers got each event once, not again from Redis.
            assert [await next_event(mine), await next_event(mine)] == [got, ChannelCleared("c1")]
            await trio.sleep(3 * 0.2)
            with pytest.raises(trio.WouldBlock):
                mine.receive_nowait()
            # The message was routed to agent-x only; an event without a route reaches all.
            assert other_inbox.receive_nowait() == ChannelCleared("c1")
            with pytest.raises(trio.WouldBlock):
                other_inbox.receive_nowait()
            assert b.statistics()["received"] == 2
            assert a.statistics()["sent"] == 2


async def test_a_large_event_arrives_intact() -> None:
    records = [{"level": 30, "msg": f"line {i} " + "é" * 200, "time": i} for i in range(1500)]
    async with own_stream() as stream:
        a, b = redis_bus(SHARED_REDIS, stream), redis_bus(SHARED_REDIS, stream)
        async with running(a, b):
            logs = b.subscribe("logs", [LogRecords.name])
            a.publish(LogRecords(a.worker_id, records))
            got = await next_event(logs)
            assert got == LogRecords(a.worker_id, records)


async def test_events_from_another_process_arrive() -> None:
    async with own_stream() as stream:
        b = redis_bus(SHARED_REDIS, stream)
        async with running(b):
            await publishes_from_a_process(b, "redis", SHARED_REDIS, stream)


async def test_a_publisher_never_waits_and_the_receivers_notice_what_it_dropped(
        caplog: pytest.LogCaptureFixture) -> None:
    """A full send queue drops events (logged and counted) instead of blocking; the other
    workers see the hole in the sender's sequence numbers and catch up."""
    async with own_stream() as stream:
        a = redis_bus(SHARED_REDIS, stream, queue_size=100)
        b = redis_bus(SHARED_REDIS, stream)
        gaps: list[int] = []

        async def on_gap(since_ms: int) -> None:
            gaps.append(since_ms)

        b.on_gap(on_gap)
        async with running(a, b):
            inbox = b.subscribe("agent:x", AGENT_EVENTS, address="agent-x")
            local = a.subscribe("local", capacity=10_000)
            a.publish(routed("first", "agent-x"))
            assert isinstance(await next_event(inbox), NewMessage)
            before = int(time.time() * 1000)
            started = time.perf_counter()
            for i in range(5000):  # no checkpoint: the sender cannot run meanwhile
                a.publish(routed(f"m{i}", "agent-x"))
            assert time.perf_counter() - started < 2.0
            # The queue holds 100, and the sender, waiting on it, took one more.
            dropped = a.statistics()["dropped"]
            assert dropped in (4899, 4900)
            assert a.statistics()["queued"] == 100
            assert "the send queue is full" in caplog.text
            for _ in range(5001):
                local.receive_nowait()  # delivered in the publisher's worker all the same
            await wait_until(lambda: gaps, message="the receiver's gap handler ran")
            assert inbox.overflowed  # its agent re-reads what it owes from the store
            assert b.statistics()["lost"] == dropped
            assert before - 2000 < gaps[0] <= before
            await wait_until(lambda: a.statistics()["sent"] == 5001 - dropped, message="all sent")
            fresh = b.subscribe("agent:x", AGENT_EVENTS, address="agent-x")
            a.publish(routed("after", "agent-x"))
            got = await next_event(fresh)
            assert isinstance(got, NewMessage)
            assert got.message["content"] == "after"


async def test_a_redis_restart_is_a_gap_the_workers_recover_from(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "eliza.bus")
    with RedisServer() as redis, coredis_leaks_expected():
        stream = "eliza:bus"
        a, b = redis_bus(redis.url, stream), redis_bus(redis.url, stream)
        gaps: list[int] = []

        async def on_gap(since_ms: int) -> None:
            gaps.append(since_ms)

        b.on_gap(on_gap)
        async with running(a, b) as nursery:
            inbox = b.subscribe("agent:x", AGENT_EVENTS, address="agent-x")
            hub = b.subscribe("hub", capacity=10_000)

            async def traffic() -> None:
                for i in range(10_000):
                    a.publish(routed(f"t{i}", "agent-x"))
                    await trio.sleep(0.02)

            nursery.start_soon(traffic)
            await next_event(inbox)
            killed_at = int(time.time() * 1000)
            redis.kill()
            await wait_until(lambda: b.statistics()["in_gap"], message="the gap was detected")
            assert not gaps
            assert not cut_off(inbox)  # nothing is recovered while the gap lasts
            await trio.sleep(0.5)
            redis.start()
            await wait_until(lambda: gaps, within=6, message="the gap handler ran")
            assert cut_off(inbox)  # its agent re-reads what it owes from the store
            assert not b.statistics()["in_gap"]
            assert b.statistics()["gaps"] >= 1
            assert gaps[0] <= killed_at
            assert "gap began" in caplog.text
            assert "gap ended after" in caplog.text
            # After the restart, new events reach the others again.
            assert isinstance(await as_an_agent(b, "agent-x"), NewMessage)
            while True:  # the hub kept receiving: drain up to the newest
                try:
                    hub.receive_nowait()
                except trio.WouldBlock:
                    break
            assert isinstance(await next_event(hub), NewMessage)
            assert not hub.overflowed  # only addressed subscriptions are ended


async def test_a_redis_that_stops_answering_is_a_gap_too() -> None:
    """No connection error, only silence (the server hangs): the heartbeat that does not
    come back starts the gap, and the connections are made again."""
    with RedisServer() as redis, coredis_leaks_expected():
        a, b = redis_bus(redis.url, "eliza:bus"), redis_bus(redis.url, "eliza:bus")
        gaps: list[int] = []

        async def on_gap(since_ms: int) -> None:
            gaps.append(since_ms)

        b.on_gap(on_gap)
        async with running(a, b):
            inbox = b.subscribe("agent:x", AGENT_EVENTS, address="agent-x")
            a.publish(routed("before", "agent-x"))
            await next_event(inbox)
            redis.pause()
            try:
                await wait_until(lambda: b.statistics()["in_gap"], within=3,
                                 message="the silence was noticed")
            finally:
                redis.resume()
            await wait_until(lambda: gaps, within=8, message="the gap handler ran")
            assert cut_off(inbox)
            a.publish(routed("after", "agent-x"))
            got = await as_an_agent(b, "agent-x")
            assert isinstance(got, NewMessage)


async def test_a_reader_ahead_of_a_restarted_stream_reads_it_from_its_beginning() -> None:
    """Redis restarted with nothing kept, or its ids went back (its clock): a reader that
    resumed after its last id would wait for ids the new stream reaches only much later."""
    async with own_stream() as stream:
        transport = RedisTransport(SHARED_REDIS, stream=stream)
        async with transport._client() as client:
            assert await transport._resume_from(client, None) == "0-0"  # nothing there yet
            await client.xadd(stream, {"f": "x"})
            top = await transport._resume_from(client, None)
            assert await transport._resume_from(client, top) == top  # nothing restarted
            ahead = f"{int(top.split('-')[0]) + 10**9}-0"
            assert await transport._resume_from(client, ahead) == "0-0"
            await client.delete([stream])
            assert await transport._resume_from(client, top) == "0-0"  # the stream is gone
            assert transport.restarts == 2


async def test_a_bus_that_cannot_reach_redis_fails_to_start_with_the_reason() -> None:
    bus = SharedBus(RedisTransport("redis://127.0.0.1:1/0", timeout=1), "w1",
                    startup_timeout=1.0)
    async with trio.open_nursery() as nursery:
        with pytest.raises(StartupError, match=r"the redis bus did not answer within 1s: "
                                               r".* failed: all attempts to connect"):
            await nursery.start(bus.run)

