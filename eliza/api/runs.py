"""`/api/agents/:agentId/runs` and `/runs/:runId`: agent turns aggregated from the
`run_event`, `useModel:*`, action and evaluator logs, as the original's runs routes."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from ..errors import BadRequest
from .common import ok, query_int, query_optional_int, server, uuid_param
from .contract import declare
from .inputs import Integer, Text, Uuid

bp = Blueprint("runs", __name__, url_prefix="/api/agents")

STATUSES = frozenset({"started", "completed", "timeout", "error", "all"})


@bp.get("/<agent_id>/runs")
@declare("List the agent's runs", tags="runs", query={
    "roomId": Uuid(), "status": Text(enum=tuple(sorted(STATUSES))),
    "limit": Integer(clamp=(1, 100)), "from": Integer(), "to": Integer()})
async def list_runs(agent_id: str) -> Any:
    agent_id = uuid_param(agent_id)
    room = request.args.get("roomId")
    room_id = uuid_param(room, "room") if room else None
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(sorted(STATUSES))}")
    limit = query_int("limit", 20, lo=1, hi=100)
    since, until = query_optional_int("from"), query_optional_int("to")
    return ok(await server().activity.list_runs(agent_id, room_id=room_id, status=status,
                                                limit=limit, since=since, until=until))


@bp.get("/<agent_id>/runs/<run_id>")
@declare("Get one run", tags="runs")
async def get_run(agent_id: str, run_id: str) -> Any:
    return ok(await server().activity.get_run(uuid_param(agent_id), uuid_param(run_id, "run")))
