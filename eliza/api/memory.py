"""`/api/memory/:agentId/...` (also under `/api/agents/:agentId/...`) and the group memory
spaces `/api/memory/groups/:serverId`: an agent's memories, rooms and worlds.

The agent-scoped routes need the agent running (404 `AGENT_NOT_RUNNING` otherwise, after
400 `INVALID_ID` and 404 `AGENT_NOT_FOUND`); the group deletes do not.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from .. import ids
from ..clock import now_ms
from ..errors import ApiError, BadRequest
from .common import json_body, no_content, ok, query_int, server, uuid_param
from .contract import Cursor, declare
from .inputs import (
    MAX_SAFE_INT,
    NAME,
    Array,
    Boolean,
    Integer,
    Obj,
    Spec,
    Text,
    Uuid,
    invalid,
    pick,
)
from .messaging_common import parse_cursor
from .streaming import json_listing

bp = Blueprint("memory", __name__)

METADATA = Obj(nullable=True)
# A memory's content is an object (`{text, ...}`): the turn pipeline reads it as one.
MEMORY_PATCH: dict[str, Spec] = {
    "content": Obj(), "metadata": Obj(), "type": Text(max_chars=100, blank=False),
    "createdAt": Integer(lo=0, hi=MAX_SAFE_INT), "unique": Boolean(),
}
ROOM: dict[str, Spec] = {
    "name": NAME, "source": Text(max_chars=100, nullable=True),
    "type": Text(max_chars=100, nullable=True), "serverId": Text(max_chars=100, nullable=True),
    "messageServerId": Text(max_chars=100, nullable=True),  # 1.7's name of `serverId`
    "channelId": Uuid(nullable=True),
}
groups = Blueprint("memory_groups", __name__, url_prefix="/api/memory/groups")


def _flag(name: str) -> bool:
    return (request.args.get(name) or "").lower() == "true"


def _table() -> str:
    return request.args.get("tableName") or request.args.get("type") or "messages"


# -- memories -------------------------------------------------------------------------------


def _memories_envelope(items: list[Any]) -> Any:
    return ok({"memories": items})[0]


@bp.get("/<agent_id>/memories")
@declare("List the agent's memories", tags="memory", query={
    "channelId": Uuid(), "roomId": Uuid(), "tableName": Text(max_chars=100),
    "includeEmbedding": Text(enum=("true", "false"))})
async def agent_memories(agent_id: str) -> Any:
    agent_id = uuid_param(agent_id)
    channel = request.args.get("channelId")
    room = request.args.get("roomId")
    room_id: str | None = None
    if channel:
        room_id = ids.create_unique_uuid(agent_id, uuid_param(channel, "channel"))
    elif room:
        room_id = uuid_param(room, "room")
    batches = server().memory.iter_memories(agent_id, _table(), room_id, limit=None,
                                            before=None,
                                            include_embedding=_flag("includeEmbedding"))
    # Every memory of the type: streamed past one batch, never held whole.
    return await json_listing(batches, _memories_envelope)


@bp.get("/<agent_id>/rooms/<room_id>/memories")
@declare("List a room's memories, newest first", tags="memory", query={
    "limit": Integer(clamp=(1, 1000)), "before": Cursor(), "tableName": Text(max_chars=100),
    "includeEmbedding": Text(enum=("true", "false"))})
async def room_memories(agent_id: str, room_id: str) -> Any:
    agent_id, room_id = uuid_param(agent_id), uuid_param(room_id, "room")
    limit, before = query_int("limit", 20, lo=1, hi=1000), parse_cursor("before")
    batches = server().memory.iter_memories(
        agent_id, _table(), room_id, limit=limit,
        before=now_ms() + 1 if before is None else before,
        include_embedding=_flag("includeEmbedding"))
    return await json_listing(batches, _memories_envelope)


@bp.patch("/<agent_id>/memories/<memory_id>")
@declare("Edit a memory", tags="memory", body=Obj(fields={
    **MEMORY_PATCH, "roomId": Text(), "entityId": Text(), "worldId": Text()}))
async def update_memory(agent_id: str, memory_id: str) -> Any:
    agent_id = uuid_param(agent_id)
    memory_id = uuid_param(memory_id, "memory")
    body = await json_body()
    patch = pick(body, MEMORY_PATCH)
    # Ids that are not UUIDs are dropped, not refused, as the original does.
    patch.update({key: ids.validate_uuid(body[key]) for key in ("roomId", "entityId", "worldId")
                  if ids.is_uuid(body.get(key))})
    await server().memory.update_memory(agent_id, memory_id, patch)
    return ok({"id": memory_id, "message": "Memory updated successfully"})


@bp.delete("/<agent_id>/memories")
@declare("Delete every memory of the agent", tags="memory")
async def clear_memories(agent_id: str) -> Any:
    deleted = await server().memory.clear_memories(uuid_param(agent_id))
    return ok({"deleted": deleted, "message": "All agent memories cleared successfully"})


@bp.delete("/<agent_id>/memories/all/<room_id>")
@declare("Delete a room's memories", tags="memory", status=204)
async def clear_room_memories(agent_id: str, room_id: str) -> Any:
    await server().memory.clear_room_memories(uuid_param(agent_id),
                                              uuid_param(room_id, "room"))
    return no_content()


@bp.delete("/<agent_id>/memories/<memory_id>")
@declare("Delete a memory", tags="memory")
async def delete_memory(agent_id: str, memory_id: str) -> Any:
    await server().memory.delete_memory(uuid_param(agent_id), uuid_param(memory_id, "memory"))
    return ok({"message": "Memory deleted successfully"})


# -- rooms ----------------------------------------------------------------------------------


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = METADATA.check(body.get("metadata"), "metadata") or {}
    return metadata


@bp.post("/<agent_id>/rooms")
@declare("Create a room for the agent", tags="memory", status=201,
         body=Obj(fields={**ROOM, "worldId": Text(), "metadata": METADATA}, required=("name",)))
async def create_room(agent_id: str) -> Any:
    agent_id = uuid_param(agent_id)
    body = await json_body()
    if body.get("name") is None:
        raise invalid("name", "is required (Room name is required)")
    fields = pick(body, ROOM)
    room = await server().memory.create_room(
        agent_id, room_id=ids.create_unique_uuid(agent_id, f"room-{now_ms()}"),
        name=fields["name"], source=fields.get("source") or "client",
        type_=fields.get("type") or "DM",
        server_id=(fields.get("messageServerId") or fields.get("serverId")
                   or ids.DEFAULT_SERVER_ID),
        world_id=ids.validate_uuid(body.get("worldId")), metadata=_metadata(body),
        channel_id=fields.get("channelId"))
    return ok(room, 201)


@bp.get("/<agent_id>/rooms")
@declare("List the agent's rooms", tags="memory")
async def list_rooms(agent_id: str) -> Any:
    return ok({"rooms": await server().memory.list_rooms(uuid_param(agent_id))})


@bp.get("/<agent_id>/rooms/<room_id>")
@declare("Get a room", tags="memory")
async def get_room(agent_id: str, room_id: str) -> Any:
    return ok(await server().memory.get_room(uuid_param(agent_id), uuid_param(room_id, "room")))


# -- group memory spaces --------------------------------------------------------------------


def _group_agents(body: dict[str, Any]) -> list[Any]:
    """`agentIds`; the api-client sends none, so its call takes every running agent."""
    agent_ids = body.get("agentIds")
    if agent_ids is None:
        return server().memory.running_agents()
    if not isinstance(agent_ids, list) or not agent_ids:
        raise invalid("agentIds", "must be a non-empty array")
    return agent_ids


GROUP: dict[str, Spec] = {"agentIds": Array(items=Text()), "name": NAME,
                          "source": Text(max_chars=100), "worldId": Text(), "metadata": METADATA}


async def create_group_rooms(server_id: str, body: dict[str, Any]
                             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """A room of the group for each of the body's agents: the rooms made, an error for each
    agent that has none, and the status that answers when none is made (see
    `group_answer`)."""
    fields = pick(body, {"name": NAME, "source": Text(max_chars=100)})
    agent_ids = _group_agents(body)
    if not agent_ids:
        raise BadRequest("agentIds must be a non-empty array (no agent is running)")
    memory = server().memory
    rooms: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    statuses: set[int] = set()
    for raw in agent_ids:
        try:
            agent_id = uuid_param(raw if isinstance(raw, str) else "")
            rooms.append(await memory.create_room(
                agent_id, room_id=ids.create_unique_uuid(agent_id, server_id),
                name=fields.get("name") or f"Group {server_id[:8]}",
                source=fields.get("source") or "api", type_="API", server_id=server_id,
                world_id=ids.validate_uuid(body.get("worldId")), metadata=_metadata(body),
                channel_id=server_id))
        except ApiError as exc:
            code = "NOT_FOUND" if exc.status == 404 else exc.code
            errors.append({"agentId": raw, "code": code, "message": exc.message,
                           "details": exc.details})
            statuses.add(exc.status)
    # The agents' own refusals decide: all unknown is 404, bad ids among them 400, and a
    # failure of the server (its store unavailable, the disk full) is that failure's status.
    failed = max(statuses) if any(s >= 500 for s in statuses) else (
        statuses.pop() if len(statuses) == 1 else 400)
    return rooms, errors, failed


def group_answer(data: Any, errors: list[dict[str, Any]], made: bool, failed: int) -> Any:
    """201 when every agent has its room, 207 when some do; when none does, `failed` (the
    agents' refusal: 404 or 400, not the original's 500, which is kept for a failure of the
    server itself)."""
    if not errors:
        return ok(data, 201)
    if made:
        return {"success": False, "data": data, "errors": errors}, 207
    return {"success": False, "errors": errors,
            "error": {"code": "CREATE_ERROR", "message": "No group memory space was created",
                      "details": errors}}, failed


_GROUP_ERRORS = {"type": "array", "items": {
    "type": "object", "required": ["agentId", "code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}
_PARTIAL = {"type": "object", "required": ["success", "data", "errors"],
            "properties": {"success": {"const": False}, "data": {}, "errors": _GROUP_ERRORS}}
GROUP_PARTIAL: dict[int | str, tuple[str, dict[str, Any]]] = {
    207: ("some agents have their room: `errors` names the others",
          {"application/json": _PARTIAL})}
GROUP_FAILED = {400: "CREATE_ERROR: no agent has its room, some for a bad id (`errors`)",
                404: "CREATE_ERROR: no agent has its room, all unknown or stopped; or "
                     "NOT_FOUND"}


@groups.post("/<server_id>")
@declare("Create a group memory space (a room per agent)", tags="memory", status=201,
         body=Obj(fields=GROUP), others=GROUP_PARTIAL, errors=GROUP_FAILED)
async def create_group(server_id: str) -> Any:
    server_id = uuid_param(server_id, "server")
    rooms, errors, failed = await create_group_rooms(server_id, await json_body())
    return group_answer(rooms, errors, bool(rooms), failed)


@groups.delete("/<server_id>")
@declare("Delete a group memory space", tags="memory", status=204)
async def delete_group(server_id: str) -> Any:
    await server().memory.delete_group(uuid_param(server_id, "serverId (worldId)"))
    return no_content()


@groups.delete("/<server_id>/memories")
@declare("Delete a group memory space's memories", tags="memory", status=204)
async def clear_group_memories(server_id: str) -> Any:
    await server().memory.clear_group_memories(uuid_param(server_id, "serverId (worldId)"))
    return no_content()
