"""Group memory spaces, read: `/api/memory/groups` and `/api/memory/groups/:groupId/memories`.

A group is a message server (its id is the server id): each agent taking part keeps its
own world for it (`worlds.server_id` is the group's id) and its own rooms in that world.
A group's memories are those of every agent's world of it, and of a world whose id is the
group's id itself (as the group clears read them).
"""

from __future__ import annotations

from typing import Any

from .memory_queries import MEMORY_COLUMNS, memory_json
from .protocols import Transaction

_GROUP_WORLDS = "(world_id IN (SELECT id FROM worlds WHERE server_id = ?) OR world_id = ?)"


def list_groups(db: Transaction, limit: int) -> list[dict[str, Any]]:
    """The groups, oldest first: each with its name (its first room's, else its first
    world's), the agents taking part, and its rooms' and memories' counts."""
    groups = list(db.query(
        "SELECT g.server_id, g.since, g.worlds,"
        " (SELECT r.name FROM rooms r WHERE r.server_id = g.server_id"
        "  ORDER BY r.created_at, r.rowid LIMIT 1) AS room_name,"
        " (SELECT w.name FROM worlds w WHERE w.server_id = g.server_id"
        "  ORDER BY w.created_at, w.rowid LIMIT 1) AS world_name,"
        " (SELECT count(*) FROM rooms r WHERE r.server_id = g.server_id) AS rooms"
        " FROM (SELECT server_id, min(created_at) AS since, count(*) AS worlds FROM worlds"
        "       GROUP BY server_id) g ORDER BY g.since, g.server_id LIMIT ?", [limit]))
    if not groups:
        return []
    ids = [group["server_id"] for group in groups]
    marks = ", ".join("?" for _ in ids)
    agents: dict[str, list[str]] = {}
    for row in db.query(f"SELECT DISTINCT server_id, agent_id FROM worlds"
                        f" WHERE server_id IN ({marks}) ORDER BY server_id, agent_id", ids):
        agents.setdefault(row["server_id"], []).append(row["agent_id"])
    memories = {row["server_id"]: int(row["n"]) for row in db.query(
        "SELECT w.server_id, count(*) AS n FROM worlds w JOIN memories m ON m.world_id = w.id"
        f" WHERE w.server_id IN ({marks}) GROUP BY w.server_id", ids)}
    return [{"id": group["server_id"], "name": group["room_name"] or group["world_name"],
             "agentIds": agents.get(group["server_id"], []),
             "roomCount": int(group["rooms"]), "memoryCount": memories.get(group["server_id"], 0),
             "createdAt": group["since"]} for group in groups]


def group_exists(db: Transaction, group_id: str) -> bool:
    """Whether some agent has a world of the group, or some memory is in it."""
    return bool(list(db.query(
        "SELECT 1 FROM worlds WHERE server_id = ? OR id = ? LIMIT 1", [group_id, group_id])))


def group_memories(db: Transaction, group_id: str, *, table: str | None, before: int,
                   limit: int) -> list[dict[str, Any]]:
    """The group's memories made before `before` (epoch ms), every agent's, newest first."""
    sql = (f"SELECT {MEMORY_COLUMNS} FROM memories WHERE {_GROUP_WORLDS}"
           " AND created_at < ?")
    args: list[Any] = [group_id, group_id, before]
    if table is not None:
        sql += " AND type = ?"
        args.append(table)
    sql += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
    args.append(limit)
    return [{**memory_json(row), "worldId": row["world_id"]} for row in db.query(sql, args)]
