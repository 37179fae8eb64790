"""Sweeping, on an injected clock (no sleeps of minutes): a job that ended stays readable
until five minutes past its expiry, then the sweeper deletes it; a job whose time is up is
timed out by the sweeper even if nobody reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from eliza.clock import now_ms
from eliza.jobs import run_job_sweeper
from eliza.server import AgentServer
from eliza.store import jobs as jq
from tests.clocks import MINUTE, Clock
from tests.polling import wait_until

from .helpers import BASE, ELIZA_ID, SlowModel, create_job, ended, server_with_agent_on


async def test_an_ended_job_is_kept_five_minutes_past_its_expiry(
        client: Any, agent_server: AgentServer) -> None:
    created = await create_job(client, content="Hello", agentId=ELIZA_ID)
    assert (await ended(client, created["jobId"]))["status"] == "completed"
    clock = Clock(created["expiresAt"] + 5 * MINUTE - 1)
    agent_server.jobs.clock = clock
    assert await agent_server.jobs.sweep() == (0, 0)
    assert (await client.get(f"{BASE}/{created['jobId']}")).status_code == 200
    clock.now += 2
    assert await agent_server.jobs.sweep() == (0, 1)
    response = await client.get(f"{BASE}/{created['jobId']}")
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "JOB_NOT_FOUND"
    assert (await (await client.get(BASE)).get_json())["total"] == 0


async def test_the_sweeper_times_out_and_then_removes_unread_jobs(
        tmp_path: Path, nursery: trio.Nursery) -> None:
    model = SlowModel()
    async with server_with_agent_on(tmp_path, model) as (server, client, agent_id):
        clock = Clock(now_ms())
        server.jobs.clock = clock
        created = await create_job(client, content="slow", agentId=agent_id,
                                   timeoutMs=300_000)
        job_id = created["jobId"]
        await nursery.start(lambda task_status: run_job_sweeper(
            server.jobs, interval=0.01, task_status=task_status))

        async def stored() -> dict[str, Any] | None:
            return await server.store.read(jq.get_job, job_id)

        await trio.sleep(0.1)  # sweeps run: the job's time is not up
        assert (await stored() or {})["status"] == "processing"
        clock.now = created["expiresAt"]

        async def timed_out() -> bool:
            return (await stored() or {}).get("status") == "timeout"

        await wait_until(timed_out, within=5, message="the sweeper to time the job out")
        clock.now += 5 * MINUTE + 1
        await wait_until(lambda: _gone(server, job_id), within=5,
                         message="the sweeper to remove the job")
        model.gate.set()  # lets the agent's turn end before the server stops


async def _gone(server: AgentServer, job_id: str) -> bool:
    return await server.store.read(jq.get_job, job_id) is None
