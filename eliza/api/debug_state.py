"""`GET /api/server/debug/state`: a JSON snapshot for operators of what this worker holds:
its agents (status, where each runs), its bounded queues and how full they are, and its
connections (Socket.IO sockets, log streams, sessions). Local clients only while auth is
off (it names agents, workers and hosts), as the other operator routes."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from quart import Blueprint

from .. import __version__
from .common import ok, server
from .contract import declare
from .guards import require_trusted_client

if TYPE_CHECKING:
    from ..server import AgentServer

bp = Blueprint("debug_state", __name__)


def _agents(srv: AgentServer) -> list[dict[str, Any]]:
    rows = []
    for agent_id in srv.agents.agent_ids():
        record = srv.agents.get(agent_id)
        runtime = srv.agents.runtime(agent_id)
        where = srv.agents.where(agent_id)
        row: dict[str, Any] = {
            "id": agent_id, "name": record.name, "status": srv.agents.status(agent_id),
            # "local": this worker runs it; a worker id: another worker of the deployment.
            "runsOn": None if where is None else (
                "local" if where in ("local", srv.worker.id) else where),
            "quarantined": srv.agents.quarantined.get(agent_id),
        }
        if runtime is not None:
            row["turns"] = runtime.stats.turns
            row["failures"] = runtime.stats.failures
            row["lastError"] = runtime.stats.last_error
            row["models"] = [t.value for t in runtime.models.types()]
        rows.append(row)
    return rows


def _queues(srv: AgentServer) -> dict[str, Any]:
    log_stream = srv.realtime.log_stream
    return {
        "bus": srv.bus.statistics(),
        "socketLogStream": {"queued": len(log_stream.queue),
                            "capacity": log_stream.queue.maxlen,
                            "dropped": log_stream.dropped},
        "sseLogStreams": srv.log_feed.statistics(),
        "logBuffer": {"entries": len(srv.logs)},
    }


@bp.get("/debug/state")
@declare("A snapshot of this worker's agents, queues and connections (operators)",
         tags="server",
         description="Answers {worker, version, uptime, agents: [{id, name, status, runsOn, "
                     "quarantined, turns?, failures?, lastError?, models?}], queues: {bus, "
                     "socketLogStream, sseLogStreams, logBuffer}, connections: {socketio, "
                     "sseLogStreams, sessions}}. Local clients only while auth is off (else "
                     "403), the API key otherwise.")
async def debug_state() -> Any:
    require_trusted_client()
    srv = server()
    active, _, expired = await srv.sessions.overview()
    return ok({
        "worker": {**srv.worker.describe(), "deployment": srv.ownership is not None},
        "version": __version__,
        "uptime": time.time() - srv.started_at,
        "agents": _agents(srv),
        "queues": _queues(srv),
        "connections": {
            "socketio": dataclasses.asdict(srv.realtime.sio.statistics()),
            "sseLogStreams": len(srv.log_feed.subscriptions),
            "sessions": {"active": len(active), "expired": expired},
        },
    })
