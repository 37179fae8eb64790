"""Queries for the agent-side tables: worlds, rooms, entities, participants, memories.

These are one agent's own view of the conversation, as in ElizaOS: ids are derived
with `create_unique_uuid`, so each agent has its own rows for the same central channel.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from .memory_queries import MEMORY_COLUMNS
from .protocols import Transaction


@dataclass(frozen=True)
class IncomingMemory:
    """Everything one agent writes when it takes in a message, in one transaction."""

    agent_id: str
    world: dict[str, Any]
    room: dict[str, Any]
    entity: dict[str, Any]
    memory: dict[str, Any]


def _j(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


Statement = tuple[str, list[Any]]


def ensure_world(world: dict[str, Any]) -> Statement:
    return (
        "INSERT INTO worlds (id, agent_id, name, server_id, metadata, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [world["id"], world["agent_id"], world["name"], world["server_id"],
         _j(world.get("metadata")), world["created_at"]],
    )


def ensure_room(room: dict[str, Any]) -> Statement:
    return (
        "INSERT INTO rooms (id, agent_id, source, type, server_id, world_id, name,"
        " metadata, channel_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        [room["id"], room["agent_id"], room["source"], room["type"], room["server_id"],
         room["world_id"], room["name"], _j(room.get("metadata")), room["channel_id"],
         room["created_at"]],
    )


def ensure_entity(entity: dict[str, Any]) -> Statement:
    return (
        "INSERT INTO entities (id, agent_id, names, metadata, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [entity["id"], entity["agent_id"], json.dumps(entity.get("names") or []),
         json.dumps(entity.get("metadata") or {}), entity["created_at"]],
    )


def ensure_participant(
    participant_id: str, entity_id: str, room_id: str, agent_id: str, now: int
) -> Statement:
    return (
        "INSERT INTO participants (id, entity_id, room_id, agent_id, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [participant_id, entity_id, room_id, agent_id, now],
    )


def memory_exists(db: Transaction, memory_id: str) -> bool:
    return bool(list(db.query("SELECT 1 FROM memories WHERE id = ?", [memory_id])))


def insert_memory(db: Transaction, memory: dict[str, Any]) -> bool:
    """Insert unless the id exists; True when inserted."""
    return bool(db.execute(
        'INSERT INTO memories (id, type, created_at, content, entity_id, agent_id,'
        ' room_id, world_id, "unique", metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
        ' ON CONFLICT DO NOTHING',
        [memory["id"], memory.get("type", "messages"), memory["created_at"],
         json.dumps(memory["content"]), memory.get("entity_id"), memory["agent_id"],
         memory.get("room_id"), memory.get("world_id"), int(memory.get("unique", True)),
         json.dumps(memory.get("metadata") or {})],
    ).rowcount)


def take_in(db: Transaction, incoming: IncomingMemory, participant_id: str) -> bool:
    """Ensure world, room, author entity and participation, then store the memory.
    False when the memory already existed (the message was seen before: no second turn)."""
    # Most turns find all four already there: one round trip for them on PostgreSQL.
    db.execute_batch([
        ensure_world(incoming.world),
        ensure_room(incoming.room),
        ensure_entity(incoming.entity),
        ensure_participant(participant_id, incoming.entity["id"], incoming.room["id"],
                           incoming.agent_id, incoming.memory["created_at"]),
    ])
    return insert_memory(db, incoming.memory)


def recent_memories(
    db: Transaction, agent_id: str, room_id: str, limit: int
) -> list[dict[str, Any]]:
    """The room's latest `limit` message memories, oldest first (for a prompt)."""
    rows = list(db.query(
        f"SELECT {MEMORY_COLUMNS} FROM memories"
        " WHERE agent_id = ? AND room_id = ? AND type = 'messages'"
        " ORDER BY created_at DESC, rowid DESC LIMIT ?",
        [agent_id, room_id, limit],
    ))
    rows.reverse()
    for row in rows:
        row["content"] = json.loads(row["content"])
        row["metadata"] = json.loads(row["metadata"] or "{}")
    return rows


def delete_memory(db: Transaction, agent_id: str, memory_id: str) -> int:
    return int(db.execute(
        "DELETE FROM memories WHERE agent_id = ? AND id = ?", [agent_id, memory_id]
    ).rowcount)


def delete_room_memories(db: Transaction, agent_id: str, room_id: str) -> int:
    return int(db.execute(
        "DELETE FROM memories WHERE agent_id = ? AND room_id = ?", [agent_id, room_id]
    ).rowcount)


def entity_names(db: Transaction, agent_id: str, entity_id: str) -> list[str]:
    rows = list(db.query(
        "SELECT names FROM entities WHERE id = ? AND agent_id = ?", [entity_id, agent_id]
    ))
    return list(json.loads(rows[0]["names"])) if rows else []


def newest_memory_at(db: Transaction, agent_id: str) -> int | None:
    """When the agent's newest memory was made (epoch ms); None when it has none."""
    row = db.execute("SELECT max(created_at) FROM memories WHERE agent_id = ?",
                     [agent_id]).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def existing_memory_ids(db: Transaction, memory_ids: Collection[str]) -> set[str]:
    """Which of `memory_ids` exist."""
    if not memory_ids:
        return set()
    marks = ", ".join("?" for _ in memory_ids)
    return {str(r[0]) for r in db.execute(
        f"SELECT id FROM memories WHERE id IN ({marks})", list(memory_ids))}
