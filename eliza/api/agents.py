"""`/api/agents`: agent CRUD and lifecycle."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Blueprint

from ..errors import BadRequest
from ..runtime.character import agent_view, bio_summary
from ..store.agents import AgentRecord
from .character_source import load_character
from .common import json_body, no_content, ok, server, uuid_param
from .contract import declare
from .inputs import NAME, Boolean, Obj, Text

if TYPE_CHECKING:
    from ..server import AgentServer

bp = Blueprint("agents", __name__, url_prefix="/api/agents")


def _agent_json(record: AgentRecord) -> dict[str, Any]:
    srv = server()
    view = agent_view(srv.secrets.decrypt_character(record.character))
    view.update(
        id=record.id,
        enabled=record.enabled,
        server_id="00000000-0000-0000-0000-000000000000",
        createdAt=record.created_at,
        updatedAt=record.updated_at,
        status=srv.agents.status(record.id),
    )
    if srv.agents.placement is not None:
        view["worker"] = srv.agents.where(record.id)
    runtime = srv.agents.runtime(record.id)
    refused = srv.agents.refused(record.id)
    error = ((runtime.stats.last_error if runtime else None)
             or srv.agents.quarantined.get(record.id) or (refused and refused.message))
    if error:
        view["lastError"] = error
    if runtime is not None and runtime.embeddings is not None:
        indexer = runtime.embeddings
        view["embeddings"] = {"model": indexer.model, "stored": indexer.stored,
                              "failures": indexer.failures, "lastError": indexer.last_error}
    return view


def agents_listing(srv: AgentServer) -> dict[str, Any]:
    """`GET /api/agents` (also served by the fast path, eliza/fastpath.py)."""
    agents: list[dict[str, Any]] = [
        {
            "id": record.id,
            "name": record.name,
            "characterName": record.name,
            "bio": bio_summary(record.character),
            "status": srv.agents.status(record.id),
        }
        for record in srv.agents.records.values()
    ]
    if srv.agents.placement is not None:
        # Where each agent runs, for the people running a deployment (clients ignore it).
        for agent in agents:
            agent["worker"] = srv.agents.where(agent["id"])
    agents.sort(key=lambda a: (a["status"] != "active", a["name"]))
    return {"success": True, "data": {"agents": agents}}


def _check_name(name: object, field: str) -> None:
    """The size limit (a missing or empty name is validate_character's INVALID_CHARACTER)."""
    if isinstance(name, str) and name.strip():
        NAME.check(name, field)


@bp.get("")
@declare("List agents", tags="agents")
async def list_agents() -> Any:
    return agents_listing(server())


@bp.post("")
@declare("Create an agent from characterJson, agent or characterPath", tags="agents", status=201,
         body=Obj(fields={"characterJson": Obj(), "agent": Obj(),
                          "characterPath": Text(max_chars=2048)}))
async def create_agent() -> Any:
    body = await json_body()
    character = await load_character(body)
    source = next((key for key in ("characterJson", "agent") if isinstance(body.get(key), dict)),
                  "character")
    _check_name(character.get("name"), f"{source}.name")
    record, _ = await server().agents.create(character)
    return ok({"id": record.id, "character": _agent_json(record)}, 201)


@bp.get("/<agent_id>")
@declare("Get an agent", tags="agents")
async def get_agent(agent_id: str) -> Any:
    return ok(_agent_json(server().agents.get(uuid_param(agent_id))))


@bp.patch("/<agent_id>")
@declare("Update an agent's character (deep merge)", tags="agents",
         body=Obj(fields={"name": Text(max_chars="max_name_chars"), "enabled": Boolean()}),
         errors={422: "MISSING_SETTING: the agent runs and the change would leave a plugin "
                      "it enables without a setting it requires; nothing is changed"})
async def update_agent(agent_id: str) -> Any:
    agent_id = uuid_param(agent_id)
    server().agents.get(agent_id)
    body = await json_body()
    if not body:
        raise BadRequest("No updates provided")
    _check_name(body.get("name"), "name")
    record = await server().agents.update(agent_id, body)
    return ok(_agent_json(record))


@bp.delete("/<agent_id>")
@declare("Delete an agent", tags="agents", status=204)
async def delete_agent(agent_id: str) -> Any:
    await server().agents.delete(uuid_param(agent_id))
    # A body given (even empty) avoids Quart's asyncio-only iterable body under Trio.
    return no_content()


@bp.post("/<agent_id>/start")
@declare("Start an agent", tags="agents", errors={
    422: "MISSING_SETTING: a plugin the agent enables lacks a setting it requires "
         "(details.missing lists {plugin, setting, description}); the agent stays stopped"})
async def start_agent(agent_id: str) -> Any:
    agents = server().agents
    agent_id = uuid_param(agent_id)
    await agents.start(agent_id)
    return ok({"id": agent_id, "name": agents.get(agent_id).name, "status": "active"})


@bp.post("/<agent_id>/stop")
@declare("Stop an agent", tags="agents")
async def stop_agent(agent_id: str) -> Any:
    agent_id = uuid_param(agent_id)
    srv = server()
    srv.agents.require_running(agent_id)
    await srv.agents.stop(agent_id)
    return ok({"message": "Agent stopped"})
