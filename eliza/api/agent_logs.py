"""`GET /api/agents/:agentId/logs` and `DELETE /api/agents/:agentId/logs/:logId`: the
agent's own log rows (runs, model calls, actions). The agent must be running, as in the
original."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from .common import no_content, ok, query_int, server, uuid_param
from .contract import declare
from .inputs import MAX_SAFE_INT, Integer, Text, Uuid

bp = Blueprint("agent_logs", __name__, url_prefix="/api/agents")


def _exclude_types() -> list[str]:
    """`excludeTypes` repeated, `excludeTypes[]`, or comma-separated (the api-client turns
    an array into `a,b`)."""
    values = request.args.getlist("excludeTypes") + request.args.getlist("excludeTypes[]")
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@bp.get("/<agent_id>/logs")
@declare("List the agent's log rows", tags="logs", query={
    "roomId": Uuid(), "type": Text(max_chars=100), "count": Integer(clamp=(1, 1000)),
    "offset": Integer(clamp=(0, MAX_SAFE_INT)),
    "excludeTypes": Text(description="comma separated")})
async def list_logs(agent_id: str) -> Any:
    agent_id = uuid_param(agent_id)
    room = request.args.get("roomId")
    room_id = uuid_param(room, "room") if room else None
    type_ = request.args.get("type") or None
    count = query_int("count", 10, lo=1, hi=1000)
    offset = query_int("offset", 0)
    exclude = _exclude_types()
    logs = await server().activity.list_logs(agent_id, room_id=room_id, type_=type_,
                                              count=count, offset=offset, exclude=exclude)
    return ok(logs)


@bp.delete("/<agent_id>/logs/<log_id>")
@declare("Delete a log row", tags="logs", status=204)
async def delete_log(agent_id: str, log_id: str) -> Any:
    await server().activity.delete_log(uuid_param(agent_id), uuid_param(log_id, "log"))
    return no_content()
