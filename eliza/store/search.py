"""Text search over the central messages and the agents' memories (FTS5, migration m004).

User input never reaches FTS5 as syntax: `fts_query` keeps the word-bearing terms of the
input and quotes each one, so quotes, `*`, `-`, `NEAR`, `AND`/`OR`/`NOT`, parentheses and
column filters are searched as plain words. A term ending in `*` stays a prefix search.
Terms are ANDed (`match_all`) or ORed. Results are ranked by bm25; `score` is `-bm25`, so
higher means more relevant.

Semantic (embedding) search is not done here: the core stores no vectors, so text search is
what the search routes use whenever no TEXT_EMBEDDING model is available.

Every function takes the sqlite-utils `Database` first and runs synchronously (call it
through `Store.read` / `Store.write`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from .memory_queries import MEMORY_COLUMNS, memory_json
from .messaging import _JSON_MESSAGE, _decode

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


def search_messages(
    db: Database, text: str, *, channel_id: str | None = None, page: Page = Page(),
    match_all: bool = True,
) -> list[tuple[dict[str, Any], str | None, float]]:
    """Matching central messages, best first: (decoded row, its server id, score)."""
    query = fts_query(text, match_all)
    if query is None:
        return []
    sql = (
        "SELECT m.*, c.message_server_id AS _server_id,"
        " bm25(central_messages_fts) AS _rank"
        " FROM central_messages_fts"
        " JOIN central_messages m ON m.rowid = central_messages_fts.rowid"
        " LEFT JOIN channels c ON c.id = m.channel_id"
        " WHERE central_messages_fts MATCH ?"
    )
    args: list[Any] = [query]
    if channel_id is not None:
        sql += " AND m.channel_id = ?"
        args.append(channel_id)
    sql += " ORDER BY _rank, m.created_at DESC, m.rowid DESC LIMIT ? OFFSET ?"
    args += [page.limit, page.offset]
    out: list[tuple[dict[str, Any], str | None, float]] = []
    for row in db.query(sql, args):
        server_id = row.pop("_server_id")
        rank = float(row.pop("_rank"))
        out.append((_decode(row, _JSON_MESSAGE), server_id, -rank))
    return out


def search_memories(
    db: Database, agent_id: str, text: str, *, room_id: str | None = None,
    table: str | None = None, page: Page = Page(), match_all: bool = True,
) -> list[dict[str, Any]]:
    """The agent's memories whose `content.text` matches, best first, in the memory JSON
    shape plus `score`. `table` narrows to one memory type (`messages`, `documents`...)."""
    query = fts_query(text, match_all)
    if query is None:
        return []
    columns = ", ".join(f"m.{c.strip()}" for c in MEMORY_COLUMNS.split(","))
    sql = (
        f"SELECT {columns}, bm25(memories_fts) AS _rank FROM memories_fts"
        " JOIN memories m ON m.rowid = memories_fts.rowid"
        " WHERE memories_fts MATCH ? AND m.agent_id = ?"
    )
    args: list[Any] = [query, agent_id]
    if room_id is not None:
        sql += " AND m.room_id = ?"
        args.append(room_id)
    if table is not None:
        sql += " AND m.type = ?"
        args.append(table)
    sql += " ORDER BY _rank, m.created_at DESC, m.rowid DESC LIMIT ? OFFSET ?"
    args += [page.limit, page.offset]
    out: list[dict[str, Any]] = []
    for row in db.query(sql, args):
        rank = float(row.pop("_rank"))
        out.append({**memory_json(row), "score": -rank})
    return out


def rebuild_indexes(db: Database) -> None:
    """Rebuild both indexes from their source tables (after a VACUUM, or to repair)."""
    db.execute("INSERT INTO central_messages_fts (central_messages_fts) VALUES ('rebuild')")
    db.execute("DELETE FROM memories_fts")
    db.execute(
        "INSERT INTO memories_fts (rowid, text) SELECT rowid, CASE WHEN json_valid(content)"
        " THEN json_extract(content, '$.text') END FROM memories"
    )
