"""The vector index of the agents' memories on PostgreSQL (pgvector); `eliza.store.vectors`
calls these when `tx.dialect == "postgresql"`, and its docstring describes the queue.

One table per dimension, `memory_vectors_<dim>`, created on first use: `memory_id` primary
key referencing the memory (its deletion, cascades included, deletes the vector), `agent_id`,
`model`, `room_id`, `type`, and `embedding vector(<dim>)`, with a btree on (agent_id, model).
Search is exact: cosine distance (`<=>`) over the rows of one agent and model, filters in the
same query. An approximate index (HNSW) is not used: with the agent, room and type filters
after it, it returned under half of the true nearest neighbours. A trigger drops a memory's
vector when its text, room or type changes (the queue trigger owes it a new one).

Vectors travel as pgvector's text form (`[1,2,3]`), so no client-side adapter is needed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .filters import room_and_type
from .protocols import Transaction

# Drops the vector of a memory whose content, room or type changed; the table is the
# trigger's argument, so one function serves every dimension.
_DROP_FUNCTION = """CREATE OR REPLACE FUNCTION eliza_drop_memory_vector() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DELETE FROM %I WHERE memory_id = $1', TG_ARGV[0]) USING OLD.id;
    RETURN NEW;
END $$"""
_CHANGED = ("OLD.content IS DISTINCT FROM NEW.content OR OLD.room_id IS DISTINCT FROM"
            " NEW.room_id OR OLD.type IS DISTINCT FROM NEW.type")


def literal(vector: Sequence[float]) -> str:
    """A vector in pgvector's text form."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def ensure_table(db: Transaction, name: str, dimensions: int) -> None:
    """Create the table `name` (and its trigger) if it does not exist."""
    # Two writers storing the first vector of a dimension at once: one creates, the other
    # waits here and then finds the table.
    db.lock(name)
    if db.table_exists(name):
        return
    db.execute(
        f"""CREATE TABLE {name} (
            memory_id TEXT PRIMARY KEY REFERENCES memories(id) ON DELETE CASCADE,
            agent_id TEXT NOT NULL,
            model TEXT NOT NULL,
            room_id TEXT,
            type TEXT,
            embedding vector({int(dimensions)}) NOT NULL
        )"""
    )
    db.execute(f"CREATE INDEX {name}_agent_model ON {name} (agent_id, model)")
    db.execute(_DROP_FUNCTION)
    db.execute(
        f"CREATE TRIGGER {name}_au AFTER UPDATE OF content, room_id, type ON memories"
        f" FOR EACH ROW WHEN ({_CHANGED}) EXECUTE FUNCTION eliza_drop_memory_vector('{name}')"
    )


def vector_tables(db: Transaction) -> list[str]:
    """The vector tables of the current schema (those with a pgvector `embedding`)."""
    rows = db.query(
        "SELECT c.relname AS name FROM pg_class c"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'embedding'"
        " JOIN pg_type t ON t.oid = a.atttypid AND t.typname = 'vector'"
        " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
        " AND c.relname LIKE 'memory\\_vectors\\_%' ORDER BY c.relname"
    )
    return [row["name"] for row in rows]


def texts(db: Transaction, agent_id: str, limit: int) -> list[tuple[int, str, Any, Any, Any]]:
    """The oldest queued memories of the agent: (seq, id, content, room, type). The text is
    taken from `content` by the caller: only a JSON string counts, as `json_extract` gives
    on SQLite (a number is no text to embed)."""
    rows = db.execute(
        "SELECT q.seq, q.memory_id, m.content, m.room_id, m.type"
        " FROM embedding_queue q JOIN memories m ON m.id = q.memory_id"
        " WHERE q.agent_id = ? ORDER BY q.seq LIMIT ?", [agent_id, limit]).fetchall()
    return [(seq, mid, _text(content), room, type_)
            for seq, mid, content, room, type_ in rows]


def _text(content: Any) -> Any:
    try:
        doc = json.loads(content) if isinstance(content, str) else None
    except ValueError:
        return None
    return doc.get("text") if isinstance(doc, dict) else None


def insert(db: Transaction, name: str, memory_id: str, agent_id: str, model: str,
           vector: Sequence[float], room_id: str, type_: str) -> None:
    db.execute(
        f"INSERT INTO {name} (memory_id, agent_id, embedding, model, room_id, type)"
        " VALUES (?, ?, ?::vector, ?, ?, ?)",
        [memory_id, agent_id, literal(vector), model, room_id, type_],
    )


def nearest(
    db: Transaction, name: str, agent_id: str, model: str, vector: Sequence[float], k: int,
    room_id: str | None, table: str | None,
) -> list[tuple[str, float]]:
    """Exact k nearest by cosine distance: (memory id, 1 - distance), nearest first."""
    sql = (f"SELECT memory_id, embedding <=> ?::vector AS distance FROM {name}"
           " WHERE agent_id = ? AND model = ?")
    filters, filter_args = room_and_type(room_id, table)
    sql += filters
    args: list[Any] = [literal(vector), agent_id, model, *filter_args]
    sql += " ORDER BY distance, memory_id LIMIT ?"
    args.append(k)
    return [(str(mid), 1.0 - float(distance)) for mid, distance in db.execute(sql, args)]


def embeddings_of(db: Transaction, name: str, agent_id: str,
                  memory_ids: Sequence[str]) -> dict[str, list[float]]:
    marks = ", ".join("?" for _ in memory_ids)
    return {
        mid: [float(x) for x in json.loads(text)]
        for mid, text in db.execute(
            f"SELECT memory_id, embedding::text FROM {name}"
            f" WHERE agent_id = ? AND memory_id IN ({marks})", [agent_id, *memory_ids])
    }
