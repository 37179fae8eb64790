"""Worlds (reference §3.1): `GET /api/agents/worlds` (SPEC fix 2: a static rule, so it is
never taken for an agent id), `POST /api/agents/:agentId/worlds` and
`PATCH /api/agents/:agentId/worlds/:worldId`. The agent must be running."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from .. import ids
from ..clock import now_ms
from ..errors import BadRequest, Conflict, NotFound
from ..store import memory_queries as mq
from .common import json_body, ok, server, uuid_param
from .memory import require_runtime

bp = Blueprint("worlds", __name__, url_prefix="/api/agents")


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{key} must be an object")
    return value


@bp.get("/worlds")
async def list_worlds() -> Any:
    srv = server()
    running = [rt.agent_id for rt in srv.agents.runtimes()]
    if not running:
        raise NotFound("No active agents found to get worlds", code="AGENT_NOT_FOUND")
    return ok({"worlds": await srv.store.read(mq.worlds_of, running)})


@bp.post("/<agent_id>/worlds")
async def create_world(agent_id: str) -> Any:
    """`{name, serverId?, metadata?}` as the original, or the api-client's `{worldId}`
    (addAgentToWorld): that world is created for the agent, or returned when it has it."""
    agent_id = require_runtime(agent_id)
    body = await json_body()
    metadata = _object(body, "metadata")
    name = body.get("name")
    raw_world = body.get("worldId")
    if raw_world is not None:
        world_id = uuid_param(str(raw_world), "world")
    elif isinstance(name, str) and name.strip():
        world_id = ids.create_unique_uuid(agent_id, f"world-{now_ms()}")
    else:
        raise BadRequest("World name is required")
    now = now_ms()
    world = {"id": world_id, "agentId": agent_id,
             "name": name if isinstance(name, str) and name.strip() else f"World {world_id[:8]}",
             "serverId": str(body.get("serverId") or f"server-{now}"), "metadata": metadata,
             "createdAt": now}

    def create(db: Any) -> dict[str, Any] | None:
        existing = mq.get_world(db, world_id)
        if existing is not None:
            return existing if existing["agentId"] == agent_id else None
        mq.insert_world(db, world)
        return mq.get_world(db, world_id)

    stored = await server().store.write(create)
    if stored is None:
        raise Conflict("That world belongs to another agent")
    return ok({"world": stored}, 201)


@bp.patch("/<agent_id>/worlds/<world_id>")
async def update_world(agent_id: str, world_id: str) -> Any:
    """`{name?, metadata?}` (metadata shallow-merged) or the api-client's `{settings}`
    (shallow-merged into `metadata.settings`, where ElizaOS keeps world settings)."""
    agent_id = require_runtime(agent_id)
    world_id = uuid_param(world_id, "world")
    body = await json_body()
    patch = _object(body, "metadata")
    settings = _object(body, "settings")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise BadRequest("name must be a non-empty string")

    def update(db: Any) -> dict[str, Any] | None:
        world = mq.get_world(db, world_id)
        if world is None or world["agentId"] != agent_id:
            return None
        metadata = {**world["metadata"], **patch}
        if settings:
            old = metadata.get("settings")
            metadata["settings"] = {**(old if isinstance(old, dict) else {}), **settings}
        mq.update_world(db, world_id, name, metadata)
        return mq.get_world(db, world_id)

    world = await server().store.write(update)
    if world is None:
        raise NotFound("World not found")
    return ok({"world": world})
