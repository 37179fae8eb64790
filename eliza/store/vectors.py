"""The vector index of the agents' memories (sqlite-vec; pgvector on PostgreSQL, see
`eliza.store.vectors_pg`), and its work queue.

An agent whose model registry has TEXT_EMBEDDING is *enrolled* (`enroll`): a row in
`embedding_models` says which model embeds its memories. From then on the triggers of
migration m005 queue every new or edited memory of that agent in `embedding_queue`; the
agent's `EmbeddingIndexer` takes batches (`next_batch`), asks the model, and stores the
vectors (`finish`). Enrolling also queues the agent's memories that have no vector from that
model yet, so memories written before (or while the model was failing) catch up.

On SQLite, vectors live in one vec0 table per dimension, `memory_vectors_<dim>`, created on
first use: `memory_id` primary key, the agent as partition key (a KNN query reads one
agent's vectors only), cosine distance, and `model`, `room_id`, `type` as metadata columns
so the filters run inside the KNN query instead of after it. Triggers on `memories` delete
a memory's vector with it (cascades included) and drop it when its text, room or type
changes (the queue trigger owes it a new one).

Every function takes a `Transaction` first and runs synchronously (call it
through `Store.read` / `Store.write`); those that touch vectors need `Store.vectors`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import vectors_pg
from .filters import room_and_type
from .protocols import Transaction
from .schema import CHANGED

MAX_DIMENSIONS = 8192
MAX_K = 4096  # sqlite-vec's limit on k


def table_name(dimensions: int) -> str:
    if not 0 < dimensions <= MAX_DIMENSIONS:
        raise ValueError(f"an embedding must have 1 to {MAX_DIMENSIONS} dimensions")
    return f"memory_vectors_{int(dimensions)}"


def pack(vector: Sequence[float]) -> bytes:
    return struct.pack(f"{len(vector)}f", *vector)


def ensure_table(db: Transaction, dimensions: int) -> str:
    """Create the vector table (and its triggers) for `dimensions` if it does not exist."""
    name = table_name(dimensions)
    if db.dialect == "postgresql":
        vectors_pg.ensure_table(db, name, dimensions)
        return name
    if db.table_exists(name):
        return name
    db.execute(
        f"""CREATE VIRTUAL TABLE {name} USING vec0(
            memory_id TEXT PRIMARY KEY,
            agent_id TEXT PARTITION KEY,
            embedding FLOAT[{dimensions}] distance_metric=cosine,
            model TEXT,
            room_id TEXT,
            type TEXT
        )"""
    )
    db.execute(
        f"""CREATE TRIGGER {name}_ad AFTER DELETE ON memories BEGIN
            DELETE FROM {name} WHERE memory_id = old.id;
        END"""
    )
    db.execute(
        f"""CREATE TRIGGER {name}_au AFTER UPDATE OF content, room_id, type ON memories
        WHEN {CHANGED} BEGIN
            DELETE FROM {name} WHERE memory_id = old.id;
        END"""
    )
    return name


def vector_tables(db: Transaction) -> list[str]:
    if db.dialect == "postgresql":
        return vectors_pg.vector_tables(db)
    rows = db.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'memory_vectors_%'"
        " AND sql LIKE '%USING vec0%'"
    )
    return [row["name"] for row in rows]


# -- enrolment and the queue ----------------------------------------------------------------


def enroll(db: Transaction, agent_id: str, model: str) -> int:
    """Start embedding the agent's memories with `model`; queue those without its vector.
    Returns how many were queued."""
    db.execute(
        "INSERT INTO embedding_models (agent_id, model) VALUES (?, ?)"
        " ON CONFLICT (agent_id) DO UPDATE SET model = excluded.model",
        [agent_id, model],
    )
    missing = "SELECT id, agent_id FROM memories WHERE agent_id = ?"
    args: list[Any] = [agent_id]
    for name in vector_tables(db):
        missing += f" AND id NOT IN (SELECT memory_id FROM {name} WHERE agent_id = ? AND model = ?)"
        args += [agent_id, model]
    before = pending_count(db, agent_id)
    db.execute(f"INSERT INTO embedding_queue (memory_id, agent_id) {missing}"
               " ON CONFLICT DO NOTHING", args)
    return pending_count(db, agent_id) - before


def is_enrolled(db: Transaction, agent_id: str) -> bool:
    return db.execute("SELECT 1 FROM embedding_models WHERE agent_id = ?",
                      [agent_id]).fetchone() is not None


def withdraw(db: Transaction, agent_id: str) -> None:
    """Stop queueing the agent's memories (its vectors stay searchable)."""
    db.execute("DELETE FROM embedding_models WHERE agent_id = ?", [agent_id])
    db.execute("DELETE FROM embedding_queue WHERE agent_id = ?", [agent_id])


@dataclass(frozen=True)
class Pending:
    seq: int
    memory_id: str
    text: str
    room_id: str
    type: str


def next_batch(db: Transaction, agent_id: str, limit: int) -> list[Pending]:
    """The oldest queued memories of the agent, with the text to embed."""
    rows: list[Any]
    if db.dialect == "postgresql":
        rows = vectors_pg.texts(db, agent_id, limit)
    else:
        rows = db.execute(
            """SELECT q.seq, q.memory_id, CASE WHEN json_valid(m.content)
                    THEN json_extract(m.content, '$.text') END, m.room_id, m.type
                FROM embedding_queue q JOIN memories m ON m.id = q.memory_id
                WHERE q.agent_id = ? ORDER BY q.seq LIMIT ?""",
            [agent_id, limit],
        ).fetchall()
    return [Pending(seq, mid, text if isinstance(text, str) else "", room or "", type_)
            for seq, mid, text, room, type_ in rows]


def pending_count(db: Transaction, agent_id: str) -> int:
    row = db.execute("SELECT count(*) FROM embedding_queue WHERE agent_id = ?",
                     [agent_id]).fetchone()
    return int(row[0])


def finish(
    db: Transaction, agent_id: str, model: str,
    done: Iterable[tuple[Pending, Sequence[float] | None]],
) -> int:
    """Store the vectors of a batch (None: nothing to embed) and take the batch off the
    queue. An item re-queued meanwhile (its text was edited) has a new seq and stays queued,
    and its vector from the old text is not stored. Returns how many vectors were stored."""
    stored = 0
    tables = set(vector_tables(db))  # read once per batch, not once per memory
    for item, vector in done:
        taken = db.execute("DELETE FROM embedding_queue WHERE memory_id = ? AND seq = ?",
                           [item.memory_id, item.seq]).rowcount
        if not taken or vector is None:
            continue
        name = table_name(len(vector))
        if name not in tables:
            tables.add(ensure_table(db, len(vector)))
        for table in tables:  # one vector per memory, whatever its dimensions
            db.execute(f"DELETE FROM {table} WHERE memory_id = ?", [item.memory_id])
        if db.dialect == "postgresql":
            vectors_pg.insert(db, name, item.memory_id, agent_id, model, vector, item.room_id,
                              item.type)
            stored += 1
            continue
        db.execute(
            f"INSERT INTO {name} (memory_id, agent_id, embedding, model, room_id, type)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [item.memory_id, agent_id, pack(vector), model, item.room_id, item.type],
        )
        stored += 1
    return stored


# -- reading --------------------------------------------------------------------------------


def nearest(
    db: Transaction, agent_id: str, model: str, vector: Sequence[float], *, k: int,
    room_id: str | None = None, table: str | None = None,
) -> list[tuple[str, float]]:
    """The ids of the agent's `k` memories nearest to `vector`, nearest first, each with
    its similarity (1 - cosine distance: 1 is the same direction, 0 unrelated)."""
    name = table_name(len(vector))
    if not db.table_exists(name):
        return []
    if db.dialect == "postgresql":
        return vectors_pg.nearest(db, name, agent_id, model, vector, max(1, min(k, MAX_K)),
                                  room_id, table)
    sql = (f"SELECT memory_id, distance FROM {name} WHERE embedding MATCH ? AND k = ?"
           " AND agent_id = ? AND model = ?")
    filters, filter_args = room_and_type(room_id, table)
    sql += filters
    args: list[Any] = [pack(vector), max(1, min(k, MAX_K)), agent_id, model, *filter_args]
    return [(str(mid), 1.0 - float(distance))
            for mid, distance in db.execute(sql + " ORDER BY distance", args)]


def embeddings_of(db: Transaction, agent_id: str, memory_ids: Sequence[str]) -> dict[str, Any]:
    """The stored vectors of some of the agent's memories (for `includeEmbedding`)."""
    out: dict[str, Any] = {}
    ids = list(memory_ids)
    for name in vector_tables(db) if ids else []:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            if db.dialect == "postgresql":
                out.update(vectors_pg.embeddings_of(db, name, agent_id, chunk))
                continue
            marks = ", ".join("?" for _ in chunk)
            for mid, vec_json in db.execute(
                f"SELECT memory_id, vec_to_json(embedding) FROM {name}"
                f" WHERE agent_id = ? AND memory_id IN ({marks})", [agent_id, *chunk]
            ):
                out[mid] = json.loads(vec_json)
    return out
