"""Search routes: text (FTS5), semantic (vectors) or both (see `eliza.runtime.recall`).

- `POST /api/memory/<agentId>/memories/search` (also under `/api/agents`): the agent's
  memories matching `{query, roomId?, channelId?, tableName?, limit?, offset?, match?, mode?,
  threshold?}`. The agent must exist; semantic search needs it running with a
  TEXT_EMBEDDING model (text search reads the store, so a stopped agent's memories are
  searchable too).
- `POST /api/messaging/messages/search`: central messages matching `{query, channelId?,
  authorId?, from?, to?, limit?, offset?, match?, mode?, threshold?}` (the api-client's
  MessageSearchParams), in the message shape of the other messaging routes.

`mode` is `auto` (default: hybrid when semantic search is available, else text), `text`,
`semantic` or `hybrid`; asking for semantic or hybrid where it is not available is 503
`EMBEDDING_NOT_AVAILABLE`. Each hit carries `score` (higher is more relevant; its scale
depends on the mode), semantic hits also `similarity` (cosine, at least `threshold`,
default 0.1). `match` is `"all"` (default: every term) or `"any"` for the text side. The
answer's `mode` says which mode ran. The routes are POST, so `/memories/search` never
clashes with the GET/PATCH/DELETE `/memories/<memoryId>` routes.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from quart import Blueprint

from .. import ids
from ..errors import BadRequest
from ..messaging.shapes import message_json
from ..runtime import recall
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


def _query_of(body: dict[str, Any]) -> recall.Query:
    mode = body.get("mode")
    if mode is None and isinstance(body.get("semantic"), bool):  # older clients' flag
        mode = "semantic" if body["semantic"] else "text"
    try:
        search_mode = recall.SearchMode(mode or "auto")
    except ValueError:
        raise BadRequest("mode must be one of: auto, text, semantic, hybrid") from None
    threshold = body.get("threshold", body.get("match_threshold", recall.DEFAULT_THRESHOLD))
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not (
        math.isfinite(threshold) and -1 <= threshold <= 1
    ):
        raise BadRequest("threshold must be a number between -1 and 1")
    return recall.Query(text=_query(body), page=_page(body), match_all=_match_all(body),
                        mode=search_mode, threshold=float(threshold))


def _time(body: dict[str, Any], key: str) -> int | None:
    """`from`/`to` as epoch ms, or an ISO date (the api-client sends `Date` as ISO)."""
    value = body.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        if value.strip().isdigit():
            return int(value)
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            pass
    raise BadRequest(f"{key} must be a date (ISO 8601) or epoch milliseconds")


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
    query = _query_of(body)
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
    memories, mode = await recall.search_memories(srv.store, srv.agents, agent_id, query,
                                                  room_id=room_id, table=table or None)
    return ok({"memories": memories, "mode": mode.value})


@messages_bp.post("/messages/search")
async def search_messages() -> Any:
    body = await json_body()
    query = _query_of(body)
    where = sq.MessageFilter(
        channel_id=_optional_id(body, "channelId", "channel"),
        author_id=_optional_id(body, "authorId", "author"),
        since=_time(body, "from"),
        until=_time(body, "to"),
    )
    hits, mode = await recall.search_messages(server().store, server().agents, query, where)
    messages = [{**message_json(row, server_id), "score": score}
                for row, server_id, score in hits]
    return ok({"messages": messages, "mode": mode.value})
