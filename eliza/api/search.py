"""Search routes: text (full-text), semantic (vectors) or both (see `eliza.runtime.recall`).

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
`EMBEDDING_NOT_AVAILABLE`, its message saying why (no model, the agent is not running, or
the store's own reason: sqlite-vec is not loaded, pgvector is not installed). Each hit
carries `score` (higher is more relevant; its scale depends on the mode), semantic hits
also `similarity` (cosine, at least `threshold`, default 0.1). `match` is `"all"`
(default: every term) or `"any"` for the text side. The answer's `mode` says which mode
ran. The routes are POST, so `/memories/search` never clashes with the GET/PATCH/DELETE
`/memories/<memoryId>` routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quart import Blueprint

from .. import ids
from ..messaging.shapes import message_json
from ..runtime import recall
from ..store import search as sq
from .common import json_body, ok, server, uuid_param
from .contract import declare
from .inputs import (
    MAX_SAFE_INT,
    Boolean,
    Integer,
    Number,
    Obj,
    OneOf,
    Spec,
    Text,
    Uuid,
    invalid,
)

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_QUERY_CHARS = 1000

memory_bp = Blueprint("memory_search", __name__)
messages_bp = Blueprint("messages_search", __name__, url_prefix="/api/messaging")


QUERY = Text(max_chars=MAX_QUERY_CHARS, blank=False, nul=False)
LIMIT = Integer(clamp=(1, MAX_LIMIT), digits=True)
OFFSET = Integer(lo=0, digits=True)
THRESHOLD = Number(lo=-1, hi=1)
MATCH = Text(enum=("all", "any"))
MODE = Text(enum=tuple(m.value for m in recall.SearchMode))
OPTIONAL_ID = Uuid(nullable=True, empty=True)
TIME = OneOf(options=(Integer(), Text(max_chars=40)), nullable=True,
             problem="must be a date (ISO 8601) or epoch milliseconds")
SEARCH: dict[str, Spec] = {
    "query": QUERY, "channelId": OPTIONAL_ID, "limit": LIMIT, "offset": OFFSET,
    "match": MATCH, "mode": MODE, "threshold": THRESHOLD, "semantic": Boolean(),
}


def search_query(body: dict[str, Any]) -> recall.Query:
    mode = body.get("mode")
    if mode is None and isinstance(body.get("semantic"), bool):  # older clients' flag
        mode = "semantic" if body["semantic"] else "text"
    search_mode = recall.SearchMode(MODE.check(mode or "auto", "mode"))
    threshold_key = "threshold" if "threshold" in body else "match_threshold"
    threshold = THRESHOLD.check(body.get(threshold_key, recall.DEFAULT_THRESHOLD),
                                threshold_key)
    page = sq.Page(limit=LIMIT.check(body.get("limit", DEFAULT_LIMIT), "limit"),
                   offset=OFFSET.check(body.get("offset", 0), "offset"))
    return recall.Query(text=QUERY.check(body.get("query"), "query"), page=page,
                        match_all=MATCH.check(body.get("match", "all"), "match") == "all",
                        mode=search_mode, threshold=threshold)


def _time(body: dict[str, Any], key: str) -> int | None:
    """`from`/`to` as epoch ms, or an ISO date (the api-client sends `Date` as ISO)."""
    value = body.get(key)
    if value is None or value == "":
        return None
    problem = "must be a date (ISO 8601) or epoch milliseconds"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(Number(lo=-MAX_SAFE_INT, hi=MAX_SAFE_INT).check(value, key))
    if isinstance(value, str):
        if value.strip().isdigit():
            return int(Integer(digits=True).check(value, key))
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            pass
    raise invalid(key, problem)


def _optional_id(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    checked: str | None = OPTIONAL_ID.check(value, key)
    return checked


@memory_bp.post("/<agent_id>/memories/search")
@declare("Search the agent's memories (text, semantic or hybrid)", tags="search",
         body=Obj(fields={**SEARCH, "roomId": OPTIONAL_ID, "tableName": Text(max_chars=100)},
                  required=("query",)))
async def search_memories(agent_id: str) -> Any:
    agent_id = uuid_param(agent_id)
    body = await json_body()
    query = search_query(body)
    channel_id = _optional_id(body, "channelId")
    room_id = _optional_id(body, "roomId")
    table = Text(nullable=True, max_chars=100).check(body.get("tableName"), "tableName")
    srv = server()
    srv.agents.get(agent_id)  # 404 AGENT_NOT_FOUND
    if channel_id is not None:
        # The agent's room for a channel, as in GET /memories?channelId=.
        room_id = ids.create_unique_uuid(agent_id, channel_id)
    memories, mode = await recall.search_memories(srv.store, srv.agents, agent_id, query,
                                                  room_id=room_id, table=table or None)
    return ok({"memories": memories, "mode": mode.value})


@messages_bp.post("/messages/search")
@declare("Search central messages", tags="search", body=Obj(fields={
    **SEARCH, "authorId": OPTIONAL_ID, "from": TIME, "to": TIME}, required=("query",)))
async def search_messages() -> Any:
    body = await json_body()
    query = search_query(body)
    where = sq.MessageFilter(
        channel_id=_optional_id(body, "channelId"),
        author_id=_optional_id(body, "authorId"),
        since=_time(body, "from"),
        until=_time(body, "to"),
    )
    hits, mode = await recall.search_messages(server().store, server().agents, query, where)
    messages = [{**message_json(row, server_id), "score": score}
                for row, server_id, score in hits]
    return ok({"messages": messages, "mode": mode.value})
