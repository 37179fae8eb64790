"""Text search over the central messages and the agents' memories (migration m004): FTS5
on SQLite, tsvector columns on PostgreSQL (`eliza.store.search_pg`, same results' shapes).

User input never reaches FTS5 as syntax: `fts_query` keeps the word-bearing terms of the
input and quotes each one, so quotes, `*`, `-`, `NEAR`, `AND`/`OR`/`NOT`, parentheses and
column filters are searched as plain words. A term ending in `*` stays a prefix search.
Terms are ANDed (`match_all`) or ORed. Results are ranked by bm25; `score` is `-bm25`, so
higher means more relevant (on PostgreSQL `ts_rank`: the scales differ, the order's sense
does not).

Semantic search finds memory ids in the vector index (`eliza.store.vectors`); the loaders
here (`memories_by_ids`, `messages_of_memories`) turn those hits into rows.

Every function takes a `Transaction` first and runs synchronously (call it
through `Store.read` / `Store.write`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .filters import room_and_type
from .memory_queries import MEMORY_COLUMNS, memory_json
from .messaging import _JSON_MESSAGE, _decode
from .protocols import Transaction

_WORD = re.compile(r"\w", re.UNICODE)


def fts_query(text: str, match_all: bool = True) -> str | None:
    """A safe FTS5 query for the user's `text`, or None when it has no searchable term.

    Each whitespace-separated term becomes a quoted string (inner `"` doubled), which FTS5
    tokenizes into a phrase; a trailing `*` makes it a prefix query.
    """
    parts: list[str] = []
    for term in text.split():
        prefix = term.endswith("*")
        core = term.rstrip("*")
        if not _WORD.search(core):
            continue  # punctuation only: nothing the tokenizer would index
        quoted = '"' + core.replace('"', '""') + '"'
        parts.append(quoted + " *" if prefix else quoted)
    if not parts:
        return None
    return (" AND " if match_all else " OR ").join(parts)


@dataclass(frozen=True)
class Page:
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class MessageFilter:
    """Which central messages a search may return; `since`/`until` are inclusive epoch ms."""

    channel_id: str | None = None
    author_id: str | None = None
    since: int | None = None
    until: int | None = None

    def where(self) -> tuple[str, list[Any]]:
        """SQL conditions on `central_messages m` (each starting with AND)."""
        sql, args = "", []
        for condition, value in (("m.channel_id = ?", self.channel_id),
                                 ("m.author_id = ?", self.author_id),
                                 ("m.created_at >= ?", self.since),
                                 ("m.created_at <= ?", self.until)):
            if value is not None:
                sql += f" AND {condition}"
                args.append(value)
        return sql, args


DEFAULT_PAGE = Page()
NO_FILTER = MessageFilter()
MessageHit = tuple[dict[str, Any], str | None, float]
_MESSAGE_WITH_SERVER = (
    "SELECT m.*, c.message_server_id AS _server_id{extra} FROM {source}"
    " LEFT JOIN channels c ON c.id = m.channel_id"
)


def search_messages(
    db: Transaction, text: str, *, where: MessageFilter = NO_FILTER, page: Page = DEFAULT_PAGE,
    match_all: bool = True,
) -> list[MessageHit]:
    """Matching central messages, best first: (decoded row, its server id, score)."""
    if db.dialect == "postgresql":
        from . import search_pg

        return search_pg.search_messages(db, text, where, page, match_all)
    query = fts_query(text, match_all)
    if query is None:
        return []
    sql = _MESSAGE_WITH_SERVER.format(
        extra=", bm25(central_messages_fts) AS _rank",
        source="central_messages_fts"
        " JOIN central_messages m ON m.rowid = central_messages_fts.rowid",
    ) + " WHERE central_messages_fts MATCH ?"
    conditions, args = where.where()
    sql += conditions + " ORDER BY _rank, m.created_at DESC, m.rowid DESC LIMIT ? OFFSET ?"
    out: list[MessageHit] = []
    for row in db.query(sql, [query, *args, page.limit, page.offset]):
        server_id = row.pop("_server_id")
        rank = float(row.pop("_rank"))
        out.append((_decode(row, _JSON_MESSAGE), server_id, -rank))
    return out


def messages_of_memories(
    db: Transaction, hits: list[tuple[str, float]], where: MessageFilter = NO_FILTER
) -> list[MessageHit]:
    """The central messages that memory hits remember (`metadata.sourceId`), each once with
    its best similarity, most similar first, filtered by `where`."""
    if not hits:
        return []
    marks = ", ".join("?" for _ in hits)
    source_sql = ("eliza_json_text(metadata, 'sourceId')" if db.dialect == "postgresql" else
                  "CASE WHEN json_valid(metadata) THEN json_extract(metadata, '$.sourceId') END")
    source_of = dict(db.execute(f"SELECT id, {source_sql} FROM memories WHERE id IN ({marks})",
                                [mid for mid, _ in hits]).fetchall())
    best: dict[str, float] = {}
    for memory_id, similarity in hits:
        source = source_of.get(memory_id)
        if isinstance(source, str) and similarity > best.get(source, -math.inf):
            best[source] = similarity
    if not best:
        return []
    conditions, args = where.where()
    marks = ", ".join("?" for _ in best)
    sql = _MESSAGE_WITH_SERVER.format(extra="", source="central_messages m")
    sql += f" WHERE m.id IN ({marks}){conditions}"
    out: list[MessageHit] = []
    for row in db.query(sql, [*best, *args]):
        server_id = row.pop("_server_id")
        out.append((_decode(row, _JSON_MESSAGE), server_id, best[row["id"]]))
    out.sort(key=lambda hit: -hit[2])
    return out


def memories_by_ids(db: Transaction, hits: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """Memory JSON for vector hits, in the hits' order, each with its `similarity`."""
    if not hits:
        return []
    marks = ", ".join("?" for _ in hits)
    rows = {row["id"]: row for row in db.query(
        f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id IN ({marks})", [h[0] for h in hits])}
    return [{**memory_json(rows[mid]), "similarity": similarity}
            for mid, similarity in hits if mid in rows]


def search_memories(
    db: Transaction, agent_id: str, text: str, *, room_id: str | None = None,
    table: str | None = None, page: Page = Page(), match_all: bool = True,
) -> list[dict[str, Any]]:
    """The agent's memories whose `content.text` matches, best first, in the memory JSON
    shape plus `score`. `table` narrows to one memory type (`messages`, `documents`...)."""
    if db.dialect == "postgresql":
        from . import search_pg

        return search_pg.search_memories(db, agent_id, text, room_id, table, page, match_all)
    query = fts_query(text, match_all)
    if query is None:
        return []
    columns = ", ".join(f"m.{c.strip()}" for c in MEMORY_COLUMNS.split(","))
    sql = (
        f"SELECT {columns}, bm25(memories_fts) AS _rank FROM memories_fts"
        " JOIN memories m ON m.rowid = memories_fts.rowid"
        " WHERE memories_fts MATCH ? AND m.agent_id = ?"
    )
    filters, filter_args = room_and_type(room_id, table, "m.")
    sql += filters
    args: list[Any] = [query, agent_id, *filter_args]
    sql += " ORDER BY _rank, m.created_at DESC, m.rowid DESC LIMIT ? OFFSET ?"
    args += [page.limit, page.offset]
    out: list[dict[str, Any]] = []
    for row in db.query(sql, args):
        rank = float(row.pop("_rank"))
        out.append({**memory_json(row), "score": -rank})
    return out


def rebuild_indexes(db: Transaction) -> None:
    """Rebuild both indexes from their source tables (after a VACUUM, or to repair)."""
    if db.dialect == "postgresql":
        from . import search_pg

        search_pg.rebuild_indexes(db)
        return
    db.execute("INSERT INTO central_messages_fts (central_messages_fts) VALUES ('rebuild')")
    db.execute("DELETE FROM memories_fts")
    db.execute(
        "INSERT INTO memories_fts (rowid, text) SELECT rowid, CASE WHEN json_valid(content)"
        " THEN json_extract(content, '$.text') END FROM memories"
    )
