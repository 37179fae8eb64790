"""An agent's memories one by one, searched, counted, exported and imported:

- `records` (under `/api/agents` and `/api/memory`): `POST /:agentId/memories` creates a
  memory, `GET /:agentId/memories/:memoryId` reads one;
- `bp` (`/api/memory/agents/:agentId/...`): `memories` (list, create), `memories/search`
  (`?q=`), `stats`, `insights`, `export` and `import`.

Like the other memory routes they need the agent running (404 `AGENT_NOT_RUNNING`), except
search, which reads the store and needs the agent to exist, as `POST .../memories/search`.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, current_app, request

from .. import ids
from ..errors import BadRequest, PayloadTooLarge
from ..memory import insights, transfer
from ..runtime import recall
from . import search
from .common import json_body, ok, query_int, server, uuid_param
from .contract import Cursor, check_body, declare
from .inputs import (
    MAX_SAFE_INT,
    Array,
    Boolean,
    Integer,
    Obj,
    Text,
    Uuid,
    invalid,
)
from .messaging_common import parse_cursor
from .streaming import json_listing

records = Blueprint("memory_records", __name__)
bp = Blueprint("memory_agents", __name__, url_prefix="/api/memory/agents")

TYPE = Text(max_chars=100, blank=False)
TIME = Integer(lo=0, hi=MAX_SAFE_INT)
NEW_MEMORY = Obj(fields={
    "content": Obj(fields={"text": Text(max_chars="max_message_chars", blank=False)},
                   required=("text",)),
    "type": TYPE, "tableName": TYPE, "roomId": Uuid(nullable=True),
    "entityId": Uuid(nullable=True), "metadata": Obj(nullable=True), "id": Uuid(),
    "createdAt": TIME, "unique": Boolean()}, required=("content",))
LISTING = {"channelId": Uuid(), "roomId": Uuid(), "tableName": Text(max_chars=100),
           "type": Text(max_chars=100), "limit": Integer(clamp=(1, 1000)),
           "before": Cursor(), "includeEmbedding": Text(enum=("true", "false"))}
# Export parts are at most the request body limit (so each can be imported), at least this.
MIN_EXPORT_BYTES = 16 * 1024
MAX_IMPORT_MEMORIES = 10_000
DOCUMENT = Obj(fields={
    "format": Text(enum=(transfer.FORMAT,)), "version": Integer(), "agentId": Uuid(),
    "worlds": Array(items=Obj(fields={
        "id": Uuid(), "name": Text(max_chars=1000), "serverId": Text(max_chars=100),
        "metadata": Obj(nullable=True), "createdAt": TIME},
        required=("id", "name", "createdAt"))),
    "rooms": Array(items=Obj(fields={
        "id": Uuid(), "name": Text(max_chars=1000, nullable=True),
        "source": Text(max_chars=100), "type": Text(max_chars=100),
        "serverId": Text(max_chars=100, nullable=True), "worldId": Uuid(nullable=True),
        "channelId": Text(max_chars=100, nullable=True), "metadata": Obj(nullable=True),
        "createdAt": TIME}, required=("id", "source", "type", "createdAt"))),
    "entities": Array(items=Obj(fields={
        "id": Uuid(), "names": Array(items=Text(max_chars=1000)),
        "metadata": Obj(nullable=True), "createdAt": TIME}, required=("id",))),
    "memories": Array(items=Obj(fields={
        "id": Uuid(), "type": TYPE, "createdAt": TIME, "content": Obj(),
        "entityId": Uuid(nullable=True), "roomId": Uuid(nullable=True),
        "worldId": Uuid(nullable=True), "unique": Boolean(), "metadata": Obj(nullable=True)},
        required=("id", "type", "createdAt", "content"))),
}, required=("format", "version", "agentId", "memories"))


def _table(default: str | None) -> str | None:
    return request.args.get("tableName") or request.args.get("type") or default


def _memories_envelope(items: list[Any]) -> Any:
    return ok({"memories": items})[0]


# -- one memory -----------------------------------------------------------------------------


async def _create(agent_id: str) -> Any:
    body = await json_body()
    new = transfer.NewMemory(
        content=body["content"], type=body.get("type") or body.get("tableName") or "messages",
        room_id=body.get("roomId"), entity_id=body.get("entityId"),
        metadata=body.get("metadata") or {}, memory_id=body.get("id"),
        created_at=body.get("createdAt"), unique=body.get("unique", True))
    srv = server()
    return ok(await transfer.create_memory(srv.store, srv.agents, agent_id, new), 201)


@records.post("/<agent_id>/memories")
@declare("Create a memory for the agent", tags="memory", status=201, body=NEW_MEMORY)
async def create_memory(agent_id: str) -> Any:
    return await _create(agent_id)


@records.get("/<agent_id>/memories/<memory_id>")
@declare("Get one memory", tags="memory",
         query={"includeEmbedding": Text(enum=("true", "false"))})
async def get_memory(agent_id: str, memory_id: str) -> Any:
    srv = server()
    embedding = request.args.get("includeEmbedding") == "true"
    return ok(await transfer.get_memory(srv.store, srv.agents, agent_id, memory_id, embedding))


# -- /api/memory/agents/:agentId ------------------------------------------------------------


@bp.post("/<agent_id>/memories")
@declare("Create a memory for the agent", tags="memory", status=201, body=NEW_MEMORY)
async def create_agent_memory(agent_id: str) -> Any:
    return await _create(agent_id)


@bp.get("/<agent_id>/memories")
@declare("List the agent's memories of a type, newest first", tags="memory", query=LISTING)
async def list_memories(agent_id: str) -> Any:
    channel, room = request.args.get("channelId"), request.args.get("roomId")
    room_id: str | None = None
    if channel:
        room_id = ids.create_unique_uuid(agent_id, uuid_param(channel, "channel"))
    elif room:
        room_id = uuid_param(room, "room")
    limit = query_int("limit", 0, lo=1, hi=1000) or None  # no limit: every memory, streamed
    batches = server().memory.iter_memories(
        agent_id, _table("messages") or "messages", room_id, limit=limit,
        before=parse_cursor("before"),
        include_embedding=request.args.get("includeEmbedding") == "true")
    return await json_listing(batches, _memories_envelope)


@bp.get("/<agent_id>/memories/search")
@declare("Search the agent's memories (`q`: text, semantic or hybrid)", tags="search", query={
    "q": search.QUERY, "roomId": Uuid(), "channelId": Uuid(), "tableName": Text(max_chars=100),
    "type": Text(max_chars=100), "limit": search.LIMIT, "offset": search.OFFSET,
    "match": search.MATCH, "mode": search.MODE, "threshold": search.THRESHOLD})
async def search_memories(agent_id: str) -> Any:
    args = request.args
    if not args.get("q"):
        raise invalid("q", "is required")
    values: dict[str, Any] = {"query": args["q"]}
    values.update({key: args[key] for key in ("limit", "offset", "match", "mode")
                   if args.get(key)})
    if args.get("threshold"):
        values["threshold"] = float(args["threshold"])  # checked by the declaration
    query = search.search_query(values)
    room = args.get("roomId")
    room_id = uuid_param(room, "room") if room else None
    if args.get("channelId"):
        room_id = ids.create_unique_uuid(agent_id, uuid_param(args["channelId"], "channel"))
    srv = server()
    srv.agents.get(agent_id)  # 404 AGENT_NOT_FOUND
    memories, mode = await recall.search_memories(srv.store, srv.agents, agent_id, query,
                                                  room_id=room_id, table=_table(None))
    return ok({"memories": memories, "mode": mode.value})


@bp.get("/<agent_id>/stats")
@declare("Counts of the agent's memories by type, room, entity and day", tags="memory",
         query={"days": Integer(clamp=(1, 366)), "top": Integer(clamp=(1, 100))})
async def stats(agent_id: str) -> Any:
    srv = server()
    return ok(await insights.stats(srv.store, srv.agents, agent_id,
                                   days=query_int("days", 30, lo=1, hi=366),
                                   top=query_int("top", 20, lo=1, hi=100)))


@bp.get("/<agent_id>/insights")
@declare("The agent's most active rooms and entities, first and last memories",
         tags="memory", query={"top": Integer(clamp=(1, 100))})
async def agent_insights(agent_id: str) -> Any:
    srv = server()
    return ok(await insights.insights(srv.store, srv.agents, agent_id,
                                      top=query_int("top", 5, lo=1, hi=100)))


def _json_size(value: Any) -> int:
    return len(current_app.json.dumps(value, separators=(",", ":")).encode())


@bp.get("/<agent_id>/export")
@declare("Export the agent's memories (an eliza-memories document, in parts)", tags="memory",
         query={"maxBytes": Integer(lo=0), "after": Text(max_chars=40)})
async def export(agent_id: str) -> Any:
    srv = server()
    most = srv.settings.max_json_bytes
    max_bytes = query_int("maxBytes", most, lo=min(MIN_EXPORT_BYTES, most), hi=most)
    after = None
    if request.args.get("after"):
        after = transfer.parse_cursor(request.args["after"])
        if after is None:
            raise invalid("after", "must be the `next` of a previous export part")
    part = await transfer.export(srv.store, srv.agents, agent_id, after=after,
                                 max_bytes=max_bytes, json_size=_json_size)
    return await json_listing(part.batches(), lambda items: ok(part.document(items))[0])


@bp.post("/<agent_id>/import")
@declare("Import an eliza-memories document into the agent", tags="memory",
         body=DOCUMENT, body_after_lookup=True,
         description="The body is an export (`GET .../export`), as it was answered (in its "
                     "`{success, data}` envelope) or as its `data`; at most the request body "
                     f"limit and {MAX_IMPORT_MEMORIES} memories (else 413).")
async def import_memories(agent_id: str) -> Any:
    body = await json_body()
    document = body["data"] if body.get("success") is True and isinstance(
        body.get("data"), dict) else body
    memories = document.get("memories")
    if isinstance(memories, list) and len(memories) > MAX_IMPORT_MEMORIES:
        raise PayloadTooLarge(
            f"An import takes at most {MAX_IMPORT_MEMORIES} memories; export in smaller "
            "parts (maxBytes) and import each", details={
                "field": "memories", "problem": f"has more than {MAX_IMPORT_MEMORIES} items"})
    document = check_body(document)
    if document["version"] != transfer.VERSION:
        raise BadRequest(f"Unsupported export version (this server reads version "
                         f"{transfer.VERSION})", details={
                             "field": "version", "problem": f"must be {transfer.VERSION}"})
    srv = server()
    return ok(await transfer.import_document(srv.store, srv.agents, agent_id, document))


__all__ = ["bp", "records"]
