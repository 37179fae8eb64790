"""Counts over one agent's memories, behind `/api/memory/agents/:agentId/stats` and
`/insights`: by type, by room, by entity and per UTC day.

Days are `created_at / 86400000` (integer division on both SQLite and PostgreSQL), so a
day is a UTC calendar day; `day_date` turns one into its ISO date.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .protocols import Transaction

DAY_MS = 86_400_000
_DAY = f"(created_at / {DAY_MS})"


def day_date(day: int) -> str:
    """The ISO date (`2026-12-04`) of a day number (days since 1970-01-01, UTC)."""
    return datetime.fromtimestamp(day * DAY_MS / 1000, UTC).date().isoformat()


def overview(db: Transaction, agent_id: str) -> dict[str, Any]:
    """How many memories, in how many rooms, from how many entities, over which span."""
    row = db.execute(
        "SELECT count(*), count(DISTINCT room_id), count(DISTINCT entity_id), min(created_at),"
        f" max(created_at), count(DISTINCT {_DAY}) FROM memories WHERE agent_id = ?",
        [agent_id]).fetchone()
    total, rooms, entities, first, last, days = row
    return {"total": int(total), "roomCount": int(rooms), "entityCount": int(entities),
            "firstMemoryAt": first, "lastMemoryAt": last, "activeDays": int(days)}


def count_since(db: Transaction, agent_id: str, since: int) -> int:
    row = db.execute("SELECT count(*) FROM memories WHERE agent_id = ? AND created_at >= ?",
                     [agent_id, since]).fetchone()
    return int(row[0])


def by_type(db: Transaction, agent_id: str) -> list[dict[str, Any]]:
    """Every memory type of the agent with its count, largest first."""
    rows = db.query(
        "SELECT type, count(*) AS n FROM memories WHERE agent_id = ?"
        " GROUP BY type ORDER BY n DESC, type", [agent_id])
    return [{"type": row["type"], "count": int(row["n"])} for row in rows]


def by_room(db: Transaction, agent_id: str, top: int) -> list[dict[str, Any]]:
    """The `top` rooms holding most of the agent's memories (a null `roomId` counts the
    memories kept outside any room), with the room's name and its newest memory's time."""
    rows = db.query(
        "SELECT m.room_id, r.name, count(*) AS n, max(m.created_at) AS last FROM memories m"
        " LEFT JOIN rooms r ON r.id = m.room_id WHERE m.agent_id = ?"
        " GROUP BY m.room_id, r.name ORDER BY n DESC, last DESC LIMIT ?", [agent_id, top])
    return [{"roomId": row["room_id"], "name": row["name"], "count": int(row["n"]),
             "lastMemoryAt": row["last"]} for row in rows]


def by_entity(db: Transaction, agent_id: str, top: int) -> list[dict[str, Any]]:
    """The `top` entities behind most of the agent's memories, with the names the agent
    knows them by and their newest memory's time."""
    rows = list(db.query(
        "SELECT entity_id, count(*) AS n, max(created_at) AS last FROM memories"
        " WHERE agent_id = ? GROUP BY entity_id ORDER BY n DESC, last DESC LIMIT ?",
        [agent_id, top]))
    known = [row["entity_id"] for row in rows if row["entity_id"] is not None]
    names: dict[str, list[str]] = {}
    if known:
        marks = ", ".join("?" for _ in known)
        names = {row["id"]: json.loads(row["names"]) for row in db.query(
            f"SELECT id, names FROM entities WHERE agent_id = ? AND id IN ({marks})",
            [agent_id, *known])}
    return [{"entityId": row["entity_id"], "names": names.get(row["entity_id"], []),
             "count": int(row["n"]), "lastMemoryAt": row["last"]} for row in rows]


def per_day(db: Transaction, agent_id: str, first_day: int, last_day: int
            ) -> list[dict[str, Any]]:
    """Memories made on each UTC day from `first_day` to `last_day` (day numbers), every
    day listed, oldest first (a day without memories counts 0)."""
    counts = {int(row["day"]): int(row["n"]) for row in db.query(
        f"SELECT {_DAY} AS day, count(*) AS n FROM memories"
        " WHERE agent_id = ? AND created_at >= ? AND created_at < ? GROUP BY " + _DAY,
        [agent_id, first_day * DAY_MS, (last_day + 1) * DAY_MS])}
    return [{"date": day_date(day), "count": counts.get(day, 0)}
            for day in range(first_day, last_day + 1)]


def busiest_day(db: Transaction, agent_id: str) -> dict[str, Any] | None:
    """The UTC day the agent made most memories (the latest such day on a tie)."""
    rows = list(db.query(
        f"SELECT {_DAY} AS day, count(*) AS n FROM memories WHERE agent_id = ?"
        f" GROUP BY {_DAY} ORDER BY n DESC, day DESC LIMIT 1", [agent_id]))
    if not rows:
        return None
    return {"date": day_date(int(rows[0]["day"])), "count": int(rows[0]["n"])}
