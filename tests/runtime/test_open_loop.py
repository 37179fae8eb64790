"""Open-loop load against a live server, shortened (the full run is `python -m
bench.open_loop`): clients post to the default agent's DM without waiting for answers, and
every acknowledged message is stored once and answered exactly once, in order; also with the
worker SIGKILLed mid-burst and the server restarted."""

from __future__ import annotations

import os
import signal
import uuid

import trio

from bench.open_loop import Target, check, dm_with_default_agent, post_open_loop
from conftest import LiveServer

CLIENTS = 20


async def test_open_loop_load_every_message_answered_once(live_server: LiveServer) -> None:
    user = str(uuid.uuid4())
    channel_id = await trio.to_thread.run_sync(dm_with_default_agent, live_server.url, user)
    load = await post_open_loop(Target(live_server.url), channel_id, user, clients=CLIENTS,
                                seconds=4)
    assert load.refused == 0
    assert len(load.acknowledged) > CLIENTS
    verdict = await trio.to_thread.run_sync(
        lambda: check(live_server.url, channel_id, load.acknowledged, within=60))
    assert verdict.stored_once
    assert verdict.answered_once, verdict
    assert verdict.in_order


async def test_sigkill_mid_burst_loses_nothing_acknowledged(live_server: LiveServer) -> None:
    user = str(uuid.uuid4())
    channel_id = await trio.to_thread.run_sync(dm_with_default_agent, live_server.url, user)
    target = Target(live_server.url)

    async def crash_and_restart() -> None:
        await trio.sleep(1.5)
        worker = live_server.worker_pid()
        await trio.to_thread.run_sync(_kill, worker)
        await trio.to_thread.run_sync(live_server.stop)
        await trio.to_thread.run_sync(live_server.start)
        target.url = live_server.url

    async with trio.open_nursery() as nursery:
        nursery.start_soon(crash_and_restart)
        load = await post_open_loop(target, channel_id, user, clients=CLIENTS, seconds=5)
    assert load.refused > 0  # the burst really went on across the crash
    verdict = await trio.to_thread.run_sync(
        lambda: check(live_server.url, channel_id, load.acknowledged, within=60))
    assert verdict.stored_once
    assert verdict.answered_once, verdict
    assert verdict.in_order


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
