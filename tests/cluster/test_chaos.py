"""Two hosts of two workers each on one PostgreSQL database, 20 clients posting 20 messages
each to four agents through either host while a worker running an agent is SIGKILLed,
another SIGSTOPped past its lease then resumed, and the broker goes away for a moment
(PostgreSQL itself, store and bus at once, on the postgres bus; the Redis server, losing
its streams, on the redis bus): every acknowledged message is stored once and answered
exactly once, and the agents of the dead worker run again within the lease bound."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from eliza.ids import DEFAULT_SERVER_ID
from tests.polling import wait_until, wait_until_sync
from tests.postgres.support import TcpProxy, database_proxy, post_until_acknowledged

from .deployment import Host, RedisBroker, agents, deployment, pause, resume, sql

pytestmark = [
    pytest.mark.postgres, pytest.mark.sqlite_only, pytest.mark.cluster,
    # httpx leaves the body generator of a request cut short by its timeout (a paused worker)
    # to the garbage collector; the request is retried, nothing of ours leaks.
    pytest.mark.filterwarnings(
        "ignore:Async generator 'httpx._content.ByteStream.__aiter__':ResourceWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <async_generator object ByteStream"
        ":pytest.PytestUnraisableExceptionWarning"),
]

CLIENTS = 20
POSTS_EACH = 20
LEASE = 3.0
AGENTS = 4
OUTAGE = 1.5  # seconds without PostgreSQL


def _live_agent_leases(host: Host, *, besides: str = "") -> int:
    """Agents whose lease is held, unexpired, by a worker whose own lease is live (other
    than worker `besides`)."""
    return int(sql(host, """
        SELECT count(*) FROM leases a JOIN leases w ON w.name = 'worker:' || a.holder
        WHERE starts_with(a.name, 'agent:') AND a.released = 0 AND w.released = 0
          AND a.holder <> %s
          AND a.expires_at >= extract(epoch FROM clock_timestamp()) * 1000
          AND w.expires_at >= extract(epoch FROM clock_timestamp()) * 1000""",
        (besides,))[0][0])


def _running_an_agent(host: Host) -> tuple[int, str] | None:
    """(pid, worker id) of a worker of `host` that runs an agent now, if one does."""
    pids = host.wait_for_workers()
    busy = {int(pid): str(worker) for pid, worker in sql(host, """
        SELECT w.pid, w.id FROM leases a JOIN workers w ON w.id = a.holder
        WHERE starts_with(a.name, 'agent:') AND a.released = 0
          AND a.expires_at >= extract(epoch FROM clock_timestamp()) * 1000""")}
    return next(((pid, busy[pid]) for pid in pids if pid in busy), None)


@pytest.mark.parametrize("bus", ["postgres", "redis"])
async def test_nothing_acknowledged_is_lost_or_answered_twice_through_kills_pauses_and_a_broker_restart(  # noqa: E501
    tmp_path: Path, bus: str
) -> None:
    """The broker is PostgreSQL itself on the postgres bus (cut for a moment, store and bus
    at once), a Redis server on the redis bus (restarted, losing its streams)."""
    broker = RedisBroker(tmp_path / "redis")
    env = {"ELIZA_DEFAULT_AGENT": "true"}  # Eliza, and three agents more
    if bus == "redis":
        broker.start()
        env["REDIS_URL"] = broker.url
    try:
        with database_proxy() as proxy, deployment(
                tmp_path, bus=bus, lease=LEASE, env=env, via=proxy) as hosts:
            await _run(hosts, broker.restart if bus == "redis" else partial(_cut, proxy))
    finally:
        broker.kill()


def _cut(proxy: TcpProxy) -> None:
    """PostgreSQL gone for a moment: every connection of every worker dropped."""
    proxy.cut()
    time.sleep(OUTAGE)
    proxy.restore()


def _setup(hosts: list[Host]) -> tuple[list[str], list[str], list[str]]:
    """Three agents more than the default one, all running; a DM of each user with one of
    them. Returns (agent ids, users, channels)."""
    first = hosts[0]
    for n in range(1, AGENTS):
        created = httpx.post(f"{first.url}/api/agents", timeout=10, json={"characterJson": {
            "name": f"Chaos{n}", "bio": ["a test agent"], "system": "You are a test."}})
        assert created.status_code == 201, created.text
        started = httpx.post(f"{first.url}/api/agents/{created.json()['data']['id']}/start",
                             timeout=20)
        assert started.status_code == 200, started.text
    # Every worker hears of a new agent over the bus within moments.
    def all_listed() -> dict[str, dict[str, Any]] | None:
        found = agents(first)
        return found if len(found) == AGENTS else None

    listed = wait_until_sync(all_listed, within=5, message="every worker listing the agents")
    agent_ids = sorted(a["id"] for a in listed.values())
    users = [str(uuid.uuid4()) for _ in range(CLIENTS)]
    channels: list[str] = []
    for n, user in enumerate(users):
        created = httpx.post(f"{hosts[n % 2].url}/api/messaging/channels", timeout=10, json={
            "name": f"chaos {n}", "type": "DM", "message_server_id": DEFAULT_SERVER_ID,
            "participantCentralUserIds": [user, agent_ids[n % AGENTS]]})
        assert created.status_code == 201, created.text
        channels.append(created.json()["data"]["id"])
    return agent_ids, users, channels


async def _run(hosts: list[Host], outage: Callable[[], None]) -> None:
    first = hosts[0]
    agent_ids, users, channels = await trio.to_thread.run_sync(_setup, hosts)
    await wait_until(lambda: _live_agent_leases(first) == AGENTS, within=10,
                     message="every agent running on some worker")
    acknowledged: dict[str, str] = {}
    back_within: list[float] = []

    async def reached(count: int) -> None:
        await wait_until(lambda: len(acknowledged) >= count, within=60,
                         message=f"{count} posts acknowledged")

    async def busy_worker(host: Host) -> tuple[int, str]:
        # Only a worker that runs an agent has something to hand on.
        return await wait_until(lambda: _running_an_agent(host), within=10,
                                message="a worker running an agent")

    async def chaos() -> None:
        await reached(60)
        killed, killed_id = await busy_worker(hosts[0])
        os.kill(killed, signal.SIGKILL)
        killed_at = time.monotonic()
        await wait_until(lambda: _live_agent_leases(first, besides=killed_id) == AGENTS,
                         within=4 * LEASE, message="every agent running again", interval=0.1)
        back_within.append(time.monotonic() - killed_at)
        await reached(150)
        paused, _ = await busy_worker(hosts[1])
        pause(paused)
        await trio.sleep(2 * LEASE)  # past its lease: its agents move
        resume(paused)
        await reached(250)
        await trio.to_thread.run_sync(outage)

    with trio.fail_after(240):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(chaos)
            for n, (user, channel_id) in enumerate(zip(users, channels, strict=True)):
                # Alternating hosts: a post not acknowledged goes to the other next.
                nursery.start_soon(partial(
                    post_until_acknowledged, lambda attempt: hosts[attempt % len(hosts)].url,
                    channel_id, user, n, POSTS_EACH, acknowledged, request_timeout=5,
                    retry_after=0.1))
    assert len(acknowledged) == CLIENTS * POSTS_EACH
    assert back_within, "the agents never came back after the kill"
    print(f"\nagents of the killed worker running again after {back_within[0]:.1f} s")
    assert back_within[0] <= 2 * LEASE + 2, back_within

    marks = ", ".join("?" for _ in channels)
    stored = sql(first, "SELECT idempotency_key, id FROM central_messages"
                 f" WHERE channel_id IN ({marks}) AND author_id NOT IN"
                 f" ({', '.join('?' for _ in agent_ids)})", (*channels, *agent_ids))
    assert sorted(stored) == sorted(acknowledged.items())  # each client message id once

    def replies() -> dict[str, int]:
        return {str(k): int(v) for k, v in sql(
            first, "SELECT in_reply_to_root_message_id, count(*) FROM central_messages"
            f" WHERE channel_id IN ({marks}) AND author_id IN"
            f" ({', '.join('?' for _ in agent_ids)}) GROUP BY in_reply_to_root_message_id",
            (*channels, *agent_ids))}

    await wait_until(lambda: set(acknowledged.values()) <= set(replies()), within=90,
                     interval=0.5, message="a reply to every acknowledged message")
    await trio.sleep(2)  # a second reply to a message, were there one, lands by now
    answered = replies()
    assert set(answered) == set(acknowledged.values())
    assert set(answered.values()) == {1}, {k: v for k, v in answered.items() if v != 1}
    # Each reply came from the agent of its DM.
    wrong = sql(first, f"""SELECT count(*) FROM central_messages r
        JOIN central_messages m ON m.id = r.in_reply_to_root_message_id
        WHERE r.channel_id IN ({marks}) AND r.author_id IN
        ({', '.join('?' for _ in agent_ids)}) AND r.channel_id <> m.channel_id""",
                (*channels, *agent_ids))
    assert wrong[0][0] == 0
