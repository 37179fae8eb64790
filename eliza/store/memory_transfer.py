"""One memory read or written through the API, and an agent's memories exported and
imported (the `eliza-memories` document; its format is in docs/api.md).

Exported rows come in the document's shapes: memories with their `worldId` (and no
`agentId`: an import gives them to the agent it imports into), rooms and worlds as the
room and world routes show them, entities with the names the agent knows them by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .agent_memory import ensure_entity, ensure_room, ensure_world, insert_memory
from .memory_queries import MEMORY_COLUMNS, memory_json, room_json, world_json
from .protocols import Transaction
from .vectors import embeddings_of

# Export pages hold at most this many memories (and stop early at their byte budget).
EXPORT_PAGE_ROWS = 500


def get_memory(db: Transaction, agent_id: str, memory_id: str,
               include_embedding: bool) -> dict[str, Any] | None:
    rows = list(db.query(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id = ? AND agent_id = ?",
                         [memory_id, agent_id]))
    if not rows:
        return None
    memory = {**memory_json(rows[0]), "worldId": rows[0]["world_id"]}
    if include_embedding:
        memory["embedding"] = embeddings_of(db, agent_id, [memory_id]).get(memory_id)
    return memory


def room_world(db: Transaction, agent_id: str, room_id: str) -> tuple[bool, str | None]:
    """Whether the room is one of the agent's, and its world."""
    rows = list(db.query("SELECT world_id FROM rooms WHERE id = ? AND agent_id = ?",
                         [room_id, agent_id]))
    return (True, rows[0]["world_id"]) if rows else (False, None)


def create_memory(db: Transaction, memory: dict[str, Any]) -> dict[str, Any] | None:
    """Store a new memory (`memory` holds the snake_case columns); None when its id is
    taken."""
    if not insert_memory(db, memory):
        return None
    created = get_memory(db, memory["agent_id"], memory["id"], False)
    assert created is not None  # inserted just above, in this transaction
    return created


# -- export ---------------------------------------------------------------------------------


def export_memory(row: dict[str, Any]) -> dict[str, Any]:
    memory = memory_json(row)
    del memory["agentId"]
    return {**memory, "worldId": row["world_id"]}


def export_context(db: Transaction, agent_id: str) -> dict[str, list[dict[str, Any]]]:
    """What the agent's memories refer to: its worlds, its rooms (and any other room one of
    its memories is in) and the entities it knows."""
    worlds = [world_json(row) for row in db.query(
        "SELECT * FROM worlds WHERE agent_id = ? ORDER BY created_at, rowid", [agent_id])]
    rooms = [room_json(row) for row in db.query(
        "SELECT * FROM rooms WHERE agent_id = ? OR id IN"
        " (SELECT room_id FROM memories WHERE agent_id = ? AND room_id IS NOT NULL)"
        " ORDER BY created_at, rowid", [agent_id, agent_id])]
    entities = [{"id": row["id"], "names": json.loads(row["names"]),
                 "metadata": json.loads(row["metadata"]), "createdAt": row["created_at"]}
                for row in db.query("SELECT * FROM entities WHERE agent_id = ?"
                                    " ORDER BY created_at, rowid", [agent_id])]
    return {"worlds": worlds, "rooms": rooms, "entities": entities}


@dataclass(frozen=True)
class ExportPage:
    """Memories in the export's shape; the key (created_at, rowid) of the last one; their
    JSON size in bytes; `full` when the next memory did not fit in the byte budget."""

    memories: list[dict[str, Any]]
    key: tuple[int, int] | None
    size: int
    full: bool


def export_page(db: Transaction, agent_id: str, after: tuple[int, int] | None,
                max_bytes: int, take_one: bool) -> ExportPage:
    """The agent's memories after the key `after`, oldest first, while their JSON text stays
    within `max_bytes` (at most EXPORT_PAGE_ROWS; with `take_one`, the first memory even
    when it alone is larger)."""
    sql = f"SELECT rowid AS _rowid, {MEMORY_COLUMNS} FROM memories WHERE agent_id = ?"
    args: list[Any] = [agent_id]
    if after is not None:
        sql += " AND (created_at, rowid) > (?, ?)"
        args.extend(after)
    sql += " ORDER BY created_at, rowid LIMIT ?"
    args.append(EXPORT_PAGE_ROWS)
    out: list[dict[str, Any]] = []
    size = 0
    key = after
    for row in db.stream(sql, args):  # rows past the budget are never fetched
        memory = export_memory(row)
        grown = size + len(json.dumps(memory, separators=(",", ":")).encode()) + 1  # + comma
        if grown > max_bytes and not (take_one and not out):
            return ExportPage(out, key, size, True)
        out.append(memory)
        size, key = grown, (row["created_at"], row["_rowid"])
    return ExportPage(out, key, size, False)


# -- import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    """What an import wrote: how many memories were new, how many already there, and how
    many worlds, rooms and entities it added."""

    memories: int
    skipped: int
    worlds: int
    rooms: int
    entities: int


def import_rows(db: Transaction, worlds: list[dict[str, Any]], rooms: list[dict[str, Any]],
                entities: list[dict[str, Any]], memories: list[dict[str, Any]]) -> Imported:
    """Write an import (rows in snake_case, ids already those of the target agent): what
    exists stays as it is, so importing the same document again adds nothing."""
    counts = [sum(int(db.execute(*statement).rowcount) for statement in statements)
              for statements in ([ensure_world(w) for w in worlds],
                                 [ensure_room(r) for r in rooms],
                                 [ensure_entity(e) for e in entities])]
    added = sum(1 for memory in memories if insert_memory(db, memory))
    return Imported(memories=added, skipped=len(memories) - added, worlds=counts[0],
                    rooms=counts[1], entities=counts[2])
