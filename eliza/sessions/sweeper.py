"""The session sweeper: deletes expired sessions every SESSION_CLEANUP_INTERVAL_MINUTES and
flags those near expiry. Requests delete an expired session they touch
anyway; the sweeper keeps sessions nobody touches from piling up in the store.

Start it in a nursery the server owns: `await nursery.start(run_session_sweeper, sessions)`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from ..store import sessions as sq
from ..sweeping import sweep_every

if TYPE_CHECKING:
    from ..cluster.ownership import Ownership
    from .service import SessionService

log = logging.getLogger(__name__)

SHUTDOWN_CLEAR_GRACE = 5.0  # seconds to clear sessions on shutdown, if asked to


async def run_session_sweeper(
    service: SessionService,
    *,
    interval: float | None = None,
    deployment: Ownership | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Sweep every `interval` seconds (default: the setting, in minutes) until cancelled.
    A failing sweep is logged and retried next time: it must never take the server down.
    With CLEAR_SESSIONS_ON_SHUTDOWN=true, sessions are deleted when the sweeper stops (in a
    `deployment` of several workers: when the last worker stops). In a deployment, one
    worker sweeps for all."""
    period = interval if interval is not None else (
        service.settings.sessions.cleanup_interval_minutes * 60.0)
    task_status.started()

    async def sweep() -> str | None:
        removed, flagged = await service.sweep()
        if removed or flagged:
            return f"{len(removed)} expired removed, {flagged} near expiry"
        return None

    try:
        await sweep_every(period, "session", sweep, deployment=deployment, log=log)
    finally:
        if str(service.settings.raw.get("CLEAR_SESSIONS_ON_SHUTDOWN", "")).lower() == "true" and (
                deployment is None or deployment.alone()):
            with trio.CancelScope(shield=True), trio.move_on_after(SHUTDOWN_CLEAR_GRACE):
                cleared = await service.store.write(sq.delete_all)
                log.info("cleared %d sessions on shutdown", cleared)
