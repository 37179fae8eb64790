"""Text search on PostgreSQL: the `search` tsvector columns of migration m004 (the `simple`
configuration over `eliza_fold`, so case and Latin diacritics fold as in FTS5's unicode61).

User input never reaches PostgreSQL as tsquery syntax. As `fts_query` does for FTS5, each
whitespace-separated term is searched as a phrase of its words (a term without a letter or
digit is dropped), and a term ending in `*` is a prefix search on its last word; terms are
ANDed (`match_all`) or ORed. A term's phrase is the union of two readings, both unable to
carry syntax: its runs of letters and digits, each quoted as a lexeme (as unicode61 splits
it, so `quick-brown` finds "quick brown"); and `phraseto_tsquery` of the term, which reads
it as plain text with the parser that indexed the documents (so `3.14` finds the number
that parser kept whole). Results are ranked by `ts_rank` over the log of the length (as
bm25, a short text that is all about the terms beats a long one that mentions them), higher
is more relevant, then newest first.

`eliza.store.search` calls these when `tx.dialect == "postgresql"`.
"""

from __future__ import annotations

import re
from typing import Any

from .filters import room_and_type
from .memory_queries import MEMORY_COLUMNS, memory_json
from .messaging import _JSON_MESSAGE, _decode
from .protocols import Transaction
from .search import MessageFilter, MessageHit, Page

_LEXEME = re.compile(r"[^\W_]+")
# The parser's reading; the prefix form puts `:*` on its last word. That tsquery is
# PostgreSQL's own rendering (its text form quotes every lexeme), so appending `:*` and
# reading it back cannot inject syntax; a term without lexemes is left empty.
_PHRASE = "phraseto_tsquery('simple', eliza_search_text(?))"
_PREFIX = (f"(SELECT CASE WHEN numnode(p) = 0 THEN p ELSE (p::text || ':*')::tsquery END"
           f" FROM {_PHRASE} AS p)")
# The letters-and-digits reading: lexemes of letters and digits only, so quoting them
# needs no escaping (folded in SQL, as the documents are).
_WORDS = "to_tsquery('simple', eliza_fold(?))"


def tsquery(text: str, match_all: bool = True) -> tuple[str, list[str]] | None:
    """SQL for a safe tsquery of the user's `text` and its parameters, or None when it has
    no searchable term."""
    parts: list[str] = []
    args: list[str] = []
    for term in text.split():
        prefix = term.endswith("*")
        core = term.rstrip("*")
        words = _LEXEME.findall(core)
        if not words:
            continue  # punctuation only: nothing to search for
        parts.append(f"({_WORDS} || {_PREFIX if prefix else _PHRASE})")
        args += [" <-> ".join(f"'{word}'" for word in words) + (":*" if prefix else ""), core]
    if not parts:
        return None
    return "(" + (" && " if match_all else " || ").join(parts) + ")", args


_MESSAGES = (
    "WITH q AS (SELECT {query} AS q)"
    " SELECT m.*, c.message_server_id AS _server_id, ts_rank(m.search, q.q, 1) AS _rank"
    " FROM q, central_messages m LEFT JOIN channels c ON c.id = m.channel_id"
    " WHERE m.search @@ q.q{conditions}"
    " ORDER BY _rank DESC, m.created_at DESC, m.rowid DESC LIMIT ? OFFSET ?"
)


def search_messages(
    db: Transaction, text: str, where: MessageFilter, page: Page, match_all: bool
) -> list[MessageHit]:
    """Matching central messages, best first: (decoded row, its server id, score)."""
    built = tsquery(text, match_all)
    if built is None:
        return []
    query, args = built
    conditions, filters = where.where()
    sql = _MESSAGES.format(query=query, conditions=conditions)
    out: list[MessageHit] = []
    for row in db.query(sql, [*args, *filters, page.limit, page.offset]):
        row.pop("search", None)  # the index column is not part of the message
        server_id = row.pop("_server_id")
        rank = float(row.pop("_rank"))
        out.append((_decode(row, _JSON_MESSAGE), server_id, rank))
    return out


def search_memories(
    db: Transaction, agent_id: str, text: str, room_id: str | None, table: str | None,
    page: Page, match_all: bool,
) -> list[dict[str, Any]]:
    """The agent's memories whose `content.text` matches, best first, with `score`."""
    built = tsquery(text, match_all)
    if built is None:
        return []
    query, args = built
    columns = ", ".join(f"m.{c.strip()}" for c in MEMORY_COLUMNS.split(","))
    sql = (f"WITH q AS (SELECT {query} AS q) SELECT {columns}, ts_rank(m.search, q.q, 1) AS _rank"
           " FROM q, memories m WHERE m.search @@ q.q AND m.agent_id = ?")
    filters, filter_args = room_and_type(room_id, table, "m.")
    sql += filters
    params: list[Any] = [*args, agent_id, *filter_args]
    sql += " ORDER BY _rank DESC, m.created_at DESC, m.rowid DESC LIMIT ? OFFSET ?"
    params += [page.limit, page.offset]
    out: list[dict[str, Any]] = []
    for row in db.query(sql, params):
        rank = float(row.pop("_rank"))
        out.append({**memory_json(row), "score": rank})
    return out


def rebuild_indexes(db: Transaction) -> None:
    """The generated columns are always current; rebuild their GIN indexes (to repair)."""
    db.execute("REINDEX INDEX central_messages_search")
    db.execute("REINDEX INDEX memories_search")
