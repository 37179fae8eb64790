"""Text search routes (FTS5, see `eliza.store.search`).

- `POST /api/memory/<agentId>/memories/search` (also under `/api/agents`): the agent's
  memories whose `content.text` matches `{query, roomId?, channelId?, tableName?, limit?,
  offset?, match?}`. The agent must exist (it need not run: the rows are in the store).
- `POST /api/messaging/messages/search`: central messages matching `{query, channelId?,
  limit?, offset?, match?}`, in the message shape of the other messaging routes.

Each hit carries `score` (higher is more relevant). `match` is `"all"` (default: every term)
or `"any"`. This is text search: the core keeps no embeddings, so it is what answers when
no TEXT_EMBEDDING model exists; a `semantic` flag in the body is accepted and ignored.
The routes are POST, so `/memories/search` never clashes with the GET/PATCH/DELETE
`/memories/<memoryId>` routes (and `search` is not a UUID anyway).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from .. import ids
from ..errors import BadRequest
from ..messaging.shapes import message_json
from ..store import search as sq
from .common import json_body, ok, server, uuid_param

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_QUERY_CHARS = 1000

memory_bp = Blueprint("memory_search", __name__)
messages_bp = Blueprint("messages_search", __name__, url_prefix="/api/messaging")


def _query(body: dict[str, Any]) -> str:
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise BadRequest("query must be a non-empty string")
    if len(query) > MAX_QUERY_CHARS:
        raise BadRequest(f"query must be at most {MAX_QUERY_CHARS} characters")
    return query


def _int(body: dict[str, Any], name: str, default: int, lo: int, hi: int | None) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            raise BadRequest(f"{name} must be an integer")
    value = max(lo, value)
    return min(hi, value) if hi is not None else value


def _page(body: dict[str, Any]) -> sq.Page:
    return sq.Page(limit=_int(body, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
                   offset=_int(body, "offset", 0, 0, None))


def _match_all(body: dict[str, Any]) -> bool:
    match = body.get("match", "all")
    if match not in ("all", "any"):
        raise BadRequest("match must be 'all' or 'any'")
    return bool(match == "all")


def _optional_id(body: dict[str, Any], key: str, what: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return uuid_param(value, what)


@memory_bp.post("/<agent_id>/memories/search")
async def search_memories(agent_id: str) -> Any:
    agent_id = uuid_param(agent_id)
    body = await json_body()
    query = _query(body)
    srv = server()
    srv.agents.get(agent_id)  # 404 AGENT_NOT_FOUND
    channel_id = _optional_id(body, "channelId", "channel")
    room_id = _optional_id(body, "roomId", "room")
    if channel_id is not None:
        # The agent's room for a channel, as in GET /memories?channelId=.
        room_id = ids.create_unique_uuid(agent_id, channel_id)
    table = body.get("tableName")
    if table is not None and not isinstance(table, str):
        raise BadRequest("tableName must be a string")
    page = _page(body)
    match_all = _match_all(body)
    memories = await srv.store.read(
        lambda db: sq.search_memories(db, agent_id, query, room_id=room_id, table=table or None,
                                      page=page, match_all=match_all)
    )
    return ok({"memories": memories})


@messages_bp.post("/messages/search")
async def search_messages() -> Any:
    body = await json_body()
    query = _query(body)
    channel_id = _optional_id(body, "channelId", "channel")
    page = _page(body)
    match_all = _match_all(body)
    hits = await server().store.read(
        lambda db: sq.search_messages(db, query, channel_id=channel_id, page=page,
                                      match_all=match_all)
    )
    messages = [{**message_json(row, server_id), "score": score}
                for row, server_id, score in hits]
    return ok({"messages": messages})
