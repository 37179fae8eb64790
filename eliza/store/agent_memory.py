"""Queries for the agent-side tables: worlds, rooms, entities, participants, memories.

These are one agent's own view of the conversation (reference §4.3, §8.2): ids are derived
with `create_unique_uuid`, so each agent has its own rows for the same central channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database


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


def ensure_world(db: Database, world: dict[str, Any]) -> None:
    db.execute(
        "INSERT OR IGNORE INTO worlds (id, agent_id, name, server_id, metadata, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [world["id"], world["agent_id"], world["name"], world["server_id"],
         _j(world.get("metadata")), world["created_at"]],
    )


def ensure_room(db: Database, room: dict[str, Any]) -> None:
    db.execute(
        "INSERT OR IGNORE INTO rooms (id, agent_id, source, type, server_id, world_id, name,"
        " metadata, channel_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [room["id"], room["agent_id"], room["source"], room["type"], room["server_id"],
         room["world_id"], room["name"], _j(room.get("metadata")), room["channel_id"],
         room["created_at"]],
    )


def ensure_entity(db: Database, entity: dict[str, Any]) -> None:
    db.execute(
        "INSERT OR IGNORE INTO entities (id, agent_id, names, metadata, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [entity["id"], entity["agent_id"], json.dumps(entity.get("names") or []),
         json.dumps(entity.get("metadata") or {}), entity["created_at"]],
    )


def ensure_participant(
    db: Database, participant_id: str, entity_id: str, room_id: str, agent_id: str, now: int
) -> None:
    db.execute(
        "INSERT OR IGNORE INTO participants (id, entity_id, room_id, agent_id, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [participant_id, entity_id, room_id, agent_id, now],
    )


def memory_exists(db: Database, memory_id: str) -> bool:
    return bool(list(db.query("SELECT 1 FROM memories WHERE id = ?", [memory_id])))


def insert_memory(db: Database, memory: dict[str, Any]) -> bool:
    """Insert unless the id exists; True when inserted."""
    return bool(db.execute(
        'INSERT OR IGNORE INTO memories (id, type, created_at, content, entity_id, agent_id,'
        ' room_id, world_id, "unique", metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [memory["id"], memory.get("type", "messages"), memory["created_at"],
         json.dumps(memory["content"]), memory.get("entity_id"), memory["agent_id"],
         memory.get("room_id"), memory.get("world_id"), int(memory.get("unique", True)),
         json.dumps(memory.get("metadata") or {})],
    ).rowcount)


def take_in(db: Database, incoming: IncomingMemory, participant_id: str) -> bool:
    """Ensure world, room, author entity and participation, then store the memory.
    False when the memory already existed (the message was seen before: no second turn)."""
    ensure_world(db, incoming.world)
    ensure_room(db, incoming.room)
    ensure_entity(db, incoming.entity)
    ensure_participant(db, participant_id, incoming.entity["id"], incoming.room["id"],
                       incoming.agent_id, incoming.memory["created_at"])
    return insert_memory(db, incoming.memory)


def recent_memories(
    db: Database, agent_id: str, room_id: str, limit: int
) -> list[dict[str, Any]]:
    """The room's latest `limit` message memories, oldest first (for a prompt)."""
    rows = list(db.query(
        "SELECT * FROM memories WHERE agent_id = ? AND room_id = ? AND type = 'messages'"
        " ORDER BY created_at DESC, rowid DESC LIMIT ?",
        [agent_id, room_id, limit],
    ))
    rows.reverse()
    for row in rows:
        row["content"] = json.loads(row["content"])
        row["metadata"] = json.loads(row["metadata"] or "{}")
    return rows


def delete_memory(db: Database, agent_id: str, memory_id: str) -> int:
    return int(db.execute(
        "DELETE FROM memories WHERE agent_id = ? AND id = ?", [agent_id, memory_id]
    ).rowcount)


def delete_room_memories(db: Database, agent_id: str, room_id: str) -> int:
    return int(db.execute(
        "DELETE FROM memories WHERE agent_id = ? AND room_id = ?", [agent_id, room_id]
    ).rowcount)


def entity_names(db: Database, agent_id: str, entity_id: str) -> list[str]:
    rows = list(db.query(
        "SELECT names FROM entities WHERE id = ? AND agent_id = ?", [entity_id, agent_id]
    ))
    return list(json.loads(rows[0]["names"])) if rows else []
