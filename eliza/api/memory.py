"""`/api/memory/:agentId/...` (also under `/api/agents/:agentId/...`) and the group memory
spaces `/api/memory/groups/:serverId` (reference §3.3).

The agent-scoped routes need the agent running (404 `AGENT_NOT_RUNNING` otherwise, after
400 `INVALID_ID` and 404 `AGENT_NOT_FOUND`); the group deletes do not.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from .. import ids
from ..clock import now_ms
from ..errors import ApiError, BadRequest, NotFound
from ..store import memory_queries as mq
from ..store.agent_memory import delete_memory as delete_one
from .common import json_body, ok, query_int, server, uuid_param
from .messaging_common import parse_cursor

bp = Blueprint("memory", __name__)
groups = Blueprint("memory_groups", __name__, url_prefix="/api/memory/groups")

ROOM_CLEAR_TYPES = ("messages", "documents")


def require_runtime(agent_id: str) -> str:
    """The valid id of an agent that exists and runs."""
    agent_id = uuid_param(agent_id)
    srv = server()
    srv.agents.get(agent_id)
    if srv.agents.runtime(agent_id) is None:
        raise NotFound("Agent is not running", code="AGENT_NOT_RUNNING")
    return agent_id


def _flag(name: str) -> bool:
    return (request.args.get(name) or "").lower() == "true"


def _table() -> str:
    return request.args.get("tableName") or request.args.get("type") or "messages"


def _no_content() -> Response:
    # A body given (even empty) avoids Quart's asyncio-only iterable body under Trio.
    return Response(b"", status=204)


# -- memories -------------------------------------------------------------------------------


@bp.get("/<agent_id>/memories")
async def agent_memories(agent_id: str) -> Any:
    agent_id = require_runtime(agent_id)
    channel = request.args.get("channelId")
    room = request.args.get("roomId")
    room_id: str | None = None
    if channel:
        room_id = ids.create_unique_uuid(agent_id, uuid_param(channel, "channel"))
    elif room:
        room_id = uuid_param(room, "room")
    memories = await server().store.read(
        mq.list_memories, agent_id, _table(), room_id, _flag("includeEmbedding")
    )
    return ok({"memories": memories})


@bp.get("/<agent_id>/rooms/<room_id>/memories")
async def room_memories(agent_id: str, room_id: str) -> Any:
    agent_id = require_runtime(agent_id)
    room_id = uuid_param(room_id, "room")
    limit = query_int("limit", 20, lo=1, hi=1000)
    before = parse_cursor("before")
    memories = await server().store.read(
        mq.room_memories, agent_id, room_id, _table(), limit,
        now_ms() + 1 if before is None else before, _flag("includeEmbedding"),
    )
    return ok({"memories": memories})


@bp.patch("/<agent_id>/memories/<memory_id>")
async def update_memory(agent_id: str, memory_id: str) -> Any:
    agent_id = require_runtime(agent_id)
    memory_id = uuid_param(memory_id, "memory")
    body = await json_body()
    patch = {key: value for key, value in body.items() if key not in ("id", "agentId")}
    for key in ("roomId", "entityId", "worldId"):
        if key in patch and not ids.is_uuid(patch[key]):
            del patch[key]
    if "metadata" in patch and not isinstance(patch["metadata"], dict):
        raise BadRequest("metadata must be an object")
    if "createdAt" in patch and not isinstance(patch["createdAt"], int):
        del patch["createdAt"]
    srv = server()
    if not await srv.store.write(mq.update_memory, agent_id, memory_id, patch):
        raise NotFound("Memory not found")
    runtime = srv.agents.runtime(agent_id)
    if runtime is not None and runtime.embeddings is not None:
        runtime.embeddings.wake()  # an edited text is owed a new vector
    return ok({"id": memory_id, "message": "Memory updated successfully"})


@bp.delete("/<agent_id>/memories")
async def clear_memories(agent_id: str) -> Any:
    agent_id = require_runtime(agent_id)
    deleted = await server().store.write(mq.delete_all_memories, agent_id)
    return ok({"deleted": deleted, "message": "All agent memories cleared successfully"})


@bp.delete("/<agent_id>/memories/all/<room_id>")
async def clear_room_memories(agent_id: str, room_id: str) -> Any:
    agent_id = require_runtime(agent_id)
    room_id = uuid_param(room_id, "room")
    await server().store.write(mq.delete_room_memories_of_types, agent_id, room_id,
                               ROOM_CLEAR_TYPES)
    return _no_content()


@bp.delete("/<agent_id>/memories/<memory_id>")
async def delete_memory(agent_id: str, memory_id: str) -> Any:
    agent_id = require_runtime(agent_id)
    memory_id = uuid_param(memory_id, "memory")
    if not await server().store.write(delete_one, agent_id, memory_id):
        raise NotFound("Memory not found")
    return ok({"message": "Memory deleted successfully"})


# -- rooms ----------------------------------------------------------------------------------


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    metadata = body.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise BadRequest("metadata must be an object")
    return metadata


def _store_room(room: dict[str, Any]) -> Any:
    """A write that ensures the room's world, stores the room with the agent FOLLOWING it,
    and returns the room as JSON."""
    agent_id: str = room["agent_id"]
    room_id: str = room["id"]
    server_id: str = room["server_id"]
    now: int = room["created_at"]

    def write(db: Any) -> dict[str, Any] | None:
        mq.insert_world(db, {"id": room["world_id"], "agentId": agent_id,
                             "name": f"World {server_id[:8]}", "serverId": server_id,
                             "metadata": {}, "createdAt": now})
        mq.upsert_room(db, room)
        mq.follow_room(db, ids.create_unique_uuid(agent_id, f"{agent_id}:{room_id}"),
                       agent_id, room_id, now)
        return mq.get_room(db, agent_id, room_id)

    return write


@bp.post("/<agent_id>/rooms")
async def create_room(agent_id: str) -> Any:
    agent_id = require_runtime(agent_id)
    body = await json_body()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("Room name is required")
    now = now_ms()
    server_id = str(body.get("serverId") or ids.DEFAULT_SERVER_ID)
    world_id = ids.validate_uuid(body.get("worldId")) or ids.create_unique_uuid(agent_id,
                                                                               server_id)
    room = {
        "id": ids.create_unique_uuid(agent_id, f"room-{now}"), "agent_id": agent_id,
        "source": str(body.get("source") or "client"), "type": str(body.get("type") or "DM"),
        "server_id": server_id, "world_id": world_id, "name": name,
        "metadata": _metadata(body), "channel_id": body.get("channelId"), "created_at": now,
    }
    return ok(await server().store.write(_store_room(room)), 201)


@bp.get("/<agent_id>/rooms")
async def list_rooms(agent_id: str) -> Any:
    agent_id = require_runtime(agent_id)
    return ok({"rooms": await server().store.read(mq.list_rooms, agent_id)})


@bp.get("/<agent_id>/rooms/<room_id>")
async def get_room(agent_id: str, room_id: str) -> Any:
    agent_id = require_runtime(agent_id)
    room = await server().store.read(mq.get_room, agent_id, uuid_param(room_id, "room"))
    if room is None:
        raise NotFound("Room not found")
    return ok(room)


# -- group memory spaces --------------------------------------------------------------------


def _group_agents(body: dict[str, Any]) -> list[Any]:
    """`agentIds`; the api-client sends none, so its call takes every running agent."""
    agent_ids = body.get("agentIds")
    if agent_ids is None:
        return [rt.agent_id for rt in server().agents.runtimes()]
    if not isinstance(agent_ids, list) or not agent_ids:
        raise BadRequest("agentIds must be a non-empty array")
    return agent_ids


@groups.post("/<server_id>")
async def create_group(server_id: str) -> Any:
    server_id = uuid_param(server_id, "server")
    body = await json_body()
    agent_ids = _group_agents(body)
    if not agent_ids:
        raise BadRequest("agentIds must be a non-empty array (no agent is running)")
    srv = server()
    rooms: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for raw in agent_ids:
        try:
            agent_id = require_runtime(raw if isinstance(raw, str) else "")
            now = now_ms()
            world_id = ids.validate_uuid(body.get("worldId")) or ids.create_unique_uuid(
                agent_id, server_id)
            room = {
                "id": ids.create_unique_uuid(agent_id, server_id), "agent_id": agent_id,
                "source": str(body.get("source") or "api"), "type": "API",
                "server_id": server_id, "world_id": world_id,
                "name": str(body.get("name") or f"Group {server_id[:8]}"),
                "metadata": _metadata(body), "channel_id": server_id, "created_at": now,
            }
            rooms.append(await srv.store.write(_store_room(room)))
        except ApiError as exc:
            code = "NOT_FOUND" if exc.status == 404 else exc.code
            errors.append({"agentId": raw, "code": code, "message": exc.message,
                           "details": exc.details})
    if not errors:
        return ok(rooms, 201)
    if rooms:
        return {"success": False, "data": rooms, "errors": errors}, 207
    return {"success": False, "errors": errors,
            "error": {"code": "CREATE_ERROR", "message": "No group memory space was created",
                      "details": errors}}, 500


def _group_worlds(server_id: str) -> list[str]:
    """The world `server_id` itself (as the original reads it) and every agent's world of
    that message server (`createUniqueUuid(agent, serverId)`, reference §4.7)."""
    server_id = uuid_param(server_id, "serverId (worldId)")
    return [server_id, *(ids.create_unique_uuid(agent_id, server_id)
                         for agent_id in server().agents.records)]


@groups.delete("/<server_id>")
async def delete_group(server_id: str) -> Any:
    await server().store.write(mq.delete_rooms_by_world, _group_worlds(server_id))
    return _no_content()


@groups.delete("/<server_id>/memories")
async def clear_group_memories(server_id: str) -> Any:
    await server().store.write(mq.delete_world_messages, _group_worlds(server_id))
    return _no_content()
