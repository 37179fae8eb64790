"""Worlds: `GET /api/agents/worlds` (a static rule, registered before `/<agent_id>`, so it
is never taken for an agent id, unlike in the original), `POST /api/agents/:agentId/worlds`
and `PATCH /api/agents/:agentId/worlds/:worldId`. The agent must be running."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from .. import ids
from ..clock import now_ms
from ..errors import BadRequest
from .common import json_body, ok, server, uuid_param
from .contract import declare
from .inputs import NAME, Obj, Text, Uuid

bp = Blueprint("worlds", __name__, url_prefix="/api/agents")


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value: dict[str, Any] = Obj(nullable=True).check(body.get(key), key) or {}
    return value


@bp.get("/worlds")
@declare("List the running agents' worlds", tags="worlds")
async def list_worlds() -> Any:
    return ok({"worlds": await server().memory.list_worlds()})


@bp.post("/<agent_id>/worlds")
@declare("Create a world for the agent (or add it to one)", tags="worlds", status=201,
         body=Obj(fields={"name": Text(max_chars="max_name_chars", nullable=True),
                          "serverId": Text(max_chars=200, nullable=True),
                          "messageServerId": Text(max_chars=200, nullable=True),
                          "worldId": Uuid(nullable=True), "metadata": Obj(nullable=True)}))
async def create_world(agent_id: str) -> Any:
    """`{name, serverId?, metadata?}` as the original, or the api-client's `{worldId}`
    (addAgentToWorld): that world is created for the agent, or returned when it has it."""
    agent_id = uuid_param(agent_id)
    body = await json_body()
    metadata = _object(body, "metadata")
    name = Text(max_chars="max_name_chars", nullable=True).check(body.get("name"), "name")
    server_key = "messageServerId" if body.get("messageServerId") is not None else "serverId"
    server_id = Text(max_chars=200, nullable=True).check(body.get(server_key), server_key)
    raw_world = body.get("worldId")
    if raw_world is not None:
        world_id = Uuid().check(raw_world, "worldId")
    elif isinstance(name, str) and name.strip():
        world_id = ids.create_unique_uuid(agent_id, f"world-{now_ms()}")
    else:
        raise BadRequest("World name is required")
    now = now_ms()
    world = {"id": world_id, "agentId": agent_id,
             "name": name if isinstance(name, str) and name.strip() else f"World {world_id[:8]}",
             "serverId": server_id or f"server-{now}", "metadata": metadata,
             "createdAt": now}
    return ok({"world": await server().memory.create_world(agent_id, world)}, 201)


@bp.patch("/<agent_id>/worlds/<world_id>")
@declare("Update a world (metadata and settings shallow-merged)", tags="worlds",
         body=Obj(fields={"name": NAME, "metadata": Obj(nullable=True),
                          "settings": Obj(nullable=True)}))
async def update_world(agent_id: str, world_id: str) -> Any:
    """`{name?, metadata?}` (metadata shallow-merged) or the api-client's `{settings}`
    (shallow-merged into `metadata.settings`, where ElizaOS keeps world settings)."""
    agent_id = uuid_param(agent_id)
    world_id = uuid_param(world_id, "world")
    body = await json_body()
    name = NAME.check(body["name"], "name") if body.get("name") is not None else None
    world = await server().memory.update_world(
        agent_id, world_id, name=name, metadata=_object(body, "metadata"),
        settings=_object(body, "settings"))
    return ok({"world": world})
