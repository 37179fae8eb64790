"""Queries behind the memory, rooms, worlds and agent-log routes.

Rows come back in the ElizaOS JSON shapes: memories and rooms with epoch-ms `createdAt`,
logs with an ISO `createdAt`. Every query is scoped to one agent's own rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..clock import iso
from .protocols import Transaction
from .vectors import embeddings_of

MEMORY_COLUMNS = "id, type, created_at, content, entity_id, agent_id, room_id, world_id, " \
    '"unique", metadata'


def _load(raw: str | None, default: Any) -> Any:
    return default if raw is None else json.loads(raw)


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


# -- memories -------------------------------------------------------------------------------


def memory_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "type": row["type"], "createdAt": row["created_at"],
        "content": _load(row["content"], {}), "entityId": row["entity_id"],
        "agentId": row["agent_id"], "roomId": row["room_id"], "unique": bool(row["unique"]),
        "metadata": _load(row["metadata"], {}),
    }


def _memories_json(
    db: Transaction, agent_id: str, rows: Iterable[dict[str, Any]], include_embedding: bool
) -> list[dict[str, Any]]:
    """Memory JSON; with `include_embedding`, each carries its stored vector (null when the
    agent has no embedding model or the memory is not embedded yet)."""
    memories = [memory_json(row) for row in rows]
    if include_embedding:
        vectors = embeddings_of(db, agent_id, [m["id"] for m in memories])
        for memory in memories:
            memory["embedding"] = vectors.get(memory["id"])
    return memories


def list_memories(
    db: Transaction, agent_id: str, table: str, room_id: str | None, include_embedding: bool
) -> list[dict[str, Any]]:
    """All of the agent's memories of one type (optionally in one room), newest first."""
    sql = f"SELECT {MEMORY_COLUMNS} FROM memories WHERE agent_id = ? AND type = ?"
    args: list[Any] = [agent_id, table]
    if room_id is not None:
        sql += " AND room_id = ?"
        args.append(room_id)
    sql += " ORDER BY created_at DESC, rowid DESC"
    return _memories_json(db, agent_id, db.query(sql, args), include_embedding)


def room_memories(
    db: Transaction, agent_id: str, room_id: str, table: str, limit: int, before: int,
    include_embedding: bool,
) -> list[dict[str, Any]]:
    """The room's memories created before `before` (epoch ms), newest first."""
    rows = db.query(
        f"SELECT {MEMORY_COLUMNS} FROM memories WHERE agent_id = ? AND room_id = ? AND type = ?"
        " AND created_at < ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
        [agent_id, room_id, table, before, limit],
    )
    return _memories_json(db, agent_id, rows, include_embedding)


# A page of a memory listing stops once its rows hold this much text (at least one row),
# and holds at most this many rows.
PAGE_BYTES = 256 * 1024
PAGE_ROWS = 1000


def memory_page(
    db: Transaction, agent_id: str, table: str, *, room_id: str | None, before: int | None,
    below: tuple[int, int] | None, count: int, include_embedding: bool,
    max_bytes: int = PAGE_BYTES,
) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    """One page of `list_memories` (no `room_id`: every room) or `room_memories`: at most
    `count` memories, newest first, below the key `below` (created_at, rowid); it stops
    early once its rows hold `max_bytes` of text. Returns the memories and the key to read
    the next page below, or None when none is left."""
    sql = f"SELECT rowid AS _rowid, {MEMORY_COLUMNS} FROM memories WHERE agent_id = ? AND type = ?"
    args: list[Any] = [agent_id, table]
    if room_id is not None:
        sql += " AND room_id = ?"
        args.append(room_id)
    if before is not None:
        sql += " AND created_at < ?"
        args.append(before)
    if below is not None:
        sql += " AND (created_at, rowid) < (?, ?)"
        args.extend(below)
    sql += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
    args.append(count)
    rows: list[dict[str, Any]] = []
    size = 0
    key: tuple[int, int] | None = None
    for row in db.stream(sql, args):  # rows past the budget are never fetched
        key = (row["created_at"], row.pop("_rowid"))
        size += len(row["content"] or "") + len(row["metadata"] or "")
        rows.append(row)
        if size >= max_bytes:
            break
    more = size >= max_bytes or len(rows) == count  # else the query ran out of rows
    return _memories_json(db, agent_id, rows, include_embedding), key if more else None


def update_memory(db: Transaction, agent_id: str, memory_id: str,
                  patch: dict[str, Any]) -> bool | None:
    """Apply a partial memory: `content` is replaced, `metadata` shallow-merged, the ids are
    taken only when the caller already checked they are UUIDs. False when it does not exist,
    None (nothing written) when `roomId` names no room."""
    rows = list(db.query(
        "SELECT metadata FROM memories WHERE id = ? AND agent_id = ?", [memory_id, agent_id]
    ))
    if not rows:
        return False
    if "roomId" in patch and not list(db.query("SELECT 1 FROM rooms WHERE id = ?",
                                               [patch["roomId"]])):
        return None  # room_id is a foreign key: the write would fail
    sets: list[str] = []
    args: list[Any] = []
    if "content" in patch:
        sets.append("content = ?")
        args.append(json.dumps(patch["content"]))
    if isinstance(patch.get("metadata"), dict):
        sets.append("metadata = ?")
        args.append(json.dumps({**_load(rows[0]["metadata"], {}), **patch["metadata"]}))
    for key, column in (("type", "type"), ("roomId", "room_id"), ("entityId", "entity_id"),
                        ("worldId", "world_id"), ("createdAt", "created_at")):
        if key in patch:
            sets.append(f"{column} = ?")
            args.append(patch[key])
    if "unique" in patch:
        sets.append('"unique" = ?')
        args.append(int(bool(patch["unique"])))
    if sets:
        db.execute(f"UPDATE memories SET {', '.join(sets)} WHERE id = ? AND agent_id = ?",
                   [*args, memory_id, agent_id])
    return True


def delete_all_memories(db: Transaction, agent_id: str) -> int:
    return int(db.execute("DELETE FROM memories WHERE agent_id = ?", [agent_id]).rowcount)


def delete_room_memories_of_types(
    db: Transaction, agent_id: str, room_id: str, types: Iterable[str]
) -> int:
    kinds = list(types)
    marks = ", ".join("?" for _ in kinds)
    return int(db.execute(
        f"DELETE FROM memories WHERE agent_id = ? AND room_id = ? AND type IN ({marks})",
        [agent_id, room_id, *kinds],
    ).rowcount)


def delete_world_messages(db: Transaction, world_ids: list[str]) -> int:
    marks = ", ".join("?" for _ in world_ids)
    return int(db.execute(
        f"DELETE FROM memories WHERE world_id IN ({marks}) AND type = 'messages'", world_ids
    ).rowcount)


# -- rooms ----------------------------------------------------------------------------------


def room_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], "agentId": row["agent_id"],
        "source": row["source"], "type": row["type"], "channelId": row["channel_id"],
        # ElizaOS 1.7 names it `messageServerId`; `serverId` is its older name.
        "messageServerId": row["server_id"], "serverId": row["server_id"],
        "worldId": row["world_id"], "metadata": _load(row["metadata"], {}),
        "createdAt": row["created_at"],
    }


def list_rooms(db: Transaction, agent_id: str) -> list[dict[str, Any]]:
    rows = db.query("SELECT * FROM rooms WHERE agent_id = ? ORDER BY created_at, rowid",
                    [agent_id])
    return [room_json(row) for row in rows]


def get_room(db: Transaction, agent_id: str, room_id: str) -> dict[str, Any] | None:
    rows = list(db.query(
        "SELECT rooms.*, worlds.name AS world_name FROM rooms"
        " LEFT JOIN worlds ON worlds.id = rooms.world_id"
        " WHERE rooms.id = ? AND rooms.agent_id = ?", [room_id, agent_id],
    ))
    if not rows:
        return None
    room = room_json(rows[0])
    if rows[0]["world_name"] is not None:
        room["worldName"] = rows[0]["world_name"]
    return room


def upsert_room(db: Transaction, room: dict[str, Any]) -> None:
    """Insert or replace one room (`room` holds the snake_case columns)."""
    db.execute(
        "INSERT INTO rooms (id, agent_id, source, type, server_id, world_id, name, metadata,"
        " channel_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET source = excluded.source, type = excluded.type,"
        " server_id = excluded.server_id, world_id = excluded.world_id, name = excluded.name,"
        " metadata = excluded.metadata, channel_id = excluded.channel_id",
        [room["id"], room["agent_id"], room["source"], room["type"], room.get("server_id"),
         room.get("world_id"), room.get("name"), _dump(room.get("metadata")),
         room.get("channel_id"), room["created_at"]],
    )


def follow_room(db: Transaction, participant_id: str, agent_id: str, room_id: str,
                now: int) -> None:
    """The agent itself takes part in the room, state FOLLOWED."""
    db.execute(
        "INSERT INTO entities (id, agent_id, names, metadata, created_at)"
        " VALUES (?, ?, '[]', '{}', ?) ON CONFLICT DO NOTHING", [agent_id, agent_id, now],
    )
    db.execute(
        "INSERT INTO participants (id, entity_id, room_id, agent_id, room_state, created_at)"
        " VALUES (?, ?, ?, ?, 'FOLLOWED', ?) ON CONFLICT(entity_id, room_id)"
        " DO UPDATE SET room_state = 'FOLLOWED'",
        [participant_id, agent_id, room_id, agent_id, now],
    )


def delete_rooms_by_world(db: Transaction, world_ids: list[str]) -> int:
    """Rooms of these worlds (their memories and participants go with them: FK cascade)."""
    marks = ", ".join("?" for _ in world_ids)
    return int(db.execute(f"DELETE FROM rooms WHERE world_id IN ({marks})",
                          world_ids).rowcount)


# -- worlds ---------------------------------------------------------------------------------


def world_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], "agentId": row["agent_id"],
        "messageServerId": row["server_id"], "serverId": row["server_id"],
        "metadata": _load(row["metadata"], {}), "createdAt": row["created_at"],
    }


def worlds_of(db: Transaction, agent_ids: list[str]) -> list[dict[str, Any]]:
    if not agent_ids:
        return []
    marks = ", ".join("?" for _ in agent_ids)
    rows = db.query(f"SELECT * FROM worlds WHERE agent_id IN ({marks})"
                    " ORDER BY created_at, rowid", agent_ids)
    return [world_json(row) for row in rows]


def get_world(db: Transaction, world_id: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM worlds WHERE id = ?", [world_id]))
    return world_json(rows[0]) if rows else None


def insert_world(db: Transaction, world: dict[str, Any]) -> None:
    db.execute(
        "INSERT INTO worlds (id, agent_id, name, server_id, metadata, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [world["id"], world["agentId"], world["name"], world["serverId"],
         _dump(world.get("metadata") or {}), world["createdAt"]],
    )


def update_world(db: Transaction, world_id: str, name: str | None,
                 metadata: dict[str, Any]) -> None:
    if name is not None:
        db.execute("UPDATE worlds SET name = ? WHERE id = ?", [name, world_id])
    db.execute("UPDATE worlds SET metadata = ? WHERE id = ?", [json.dumps(metadata), world_id])


# -- logs -----------------------------------------------------------------------------------


def log_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "createdAt": iso(row["created_at"]), "entityId": row["entity_id"],
        "body": _load(row["body"], {}), "type": row["type"], "roomId": row["room_id"],
        "agentId": row["agent_id"],
    }


def list_logs(
    db: Transaction, agent_id: str, *, room_id: str | None, type_: str | None, count: int,
    offset: int, exclude: list[str],
) -> list[dict[str, Any]]:
    """The agent's logs, newest first. `exclude` drops a log whose type is in it or whose
    `body.modelType` contains one of its words (case-insensitive), before count/offset."""
    sql = "SELECT * FROM logs WHERE agent_id = ?"
    args: list[Any] = [agent_id]
    if room_id is not None:
        sql += " AND room_id = ?"
        args.append(room_id)
    if type_:
        sql += " AND type = ?"
        args.append(type_)
    words = [word.lower() for word in exclude if word]
    if words:
        sql += f" AND lower(type) NOT IN ({', '.join('?' for _ in words)})"
        args.extend(words)
    sql += " ORDER BY created_at DESC, rowid DESC"
    out: list[dict[str, Any]] = []
    skipped = 0
    for row in db.query(sql, args):
        log = log_json(row)
        model = log["body"].get("modelType") if isinstance(log["body"], dict) else None
        if words and isinstance(model, str) and any(w in model.lower() for w in words):
            continue
        if skipped < offset:
            skipped += 1
            continue
        out.append(log)
        if len(out) >= count:
            break
    return out


def delete_log(db: Transaction, agent_id: str, log_id: str) -> int:
    return int(db.execute("DELETE FROM logs WHERE agent_id = ? AND id = ?",
                          [agent_id, log_id]).rowcount)
