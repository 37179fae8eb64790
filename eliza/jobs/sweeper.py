"""The job sweeper: every JOB_SWEEP_INTERVAL seconds, settles the jobs whose time is up and
deletes those that ended more than five minutes past their expiry. Reads settle the jobs
they touch anyway; the sweeper keeps jobs nobody reads from piling up in the store. In a
deployment of several workers, one worker sweeps for all (a job lease)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from ..sweeping import sweep_every

if TYPE_CHECKING:
    from ..cluster.ownership import Ownership
    from .service import JobService

log = logging.getLogger(__name__)

JOB_SWEEP_INTERVAL = 60.0  # seconds, as the original's cleanup interval


async def run_job_sweeper(
    service: JobService,
    *,
    interval: float = JOB_SWEEP_INTERVAL,
    deployment: Ownership | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Sweep every `interval` seconds until cancelled. A failing sweep is logged and
    retried next time: it must never take the server down."""
    task_status.started()

    async def sweep() -> str | None:
        settled, deleted = await service.sweep()
        if settled or deleted:
            return f"{settled} overdue settled, {deleted} ended jobs removed"
        return None

    await sweep_every(interval, "job", sweep, deployment=deployment, log=log)
