"""Queries for message servers and which agents are subscribed to them (server_agents).

The table and its default row come from migration m001.
"""

from __future__ import annotations

import json
from typing import Any

from ..clock import iso
from .protocols import Transaction


def server_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "sourceType": row["source_type"],
        "sourceId": row["source_id"],
        "metadata": json.loads(row["metadata"]) if row["metadata"] else None,
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def all_servers(db: Transaction) -> list[dict[str, Any]]:
    return [server_json(r) for r in db.query("SELECT * FROM message_servers ORDER BY created_at")]


def get_server(db: Transaction, server_id: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM message_servers WHERE id = ?", [server_id]))
    return server_json(rows[0]) if rows else None


def create_server(db: Transaction, server: dict[str, Any]) -> dict[str, Any]:
    """Insert unless the id exists (ElizaOS: ON CONFLICT DO NOTHING), then return the row."""
    row = dict(server)
    row["metadata"] = None if row.get("metadata") is None else json.dumps(row["metadata"])
    db.execute(
        "INSERT INTO message_servers"
        " (id, name, source_type, source_id, metadata, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [row["id"], row["name"], row["source_type"], row.get("source_id"), row["metadata"],
         row["created_at"], row["updated_at"]],
    )
    found = get_server(db, server["id"])
    assert found is not None
    return found


def delete_server(db: Transaction, server_id: str) -> bool:
    return bool(db.execute("DELETE FROM message_servers WHERE id = ?", [server_id]).rowcount)


def server_agents(db: Transaction, server_id: str) -> list[str]:
    return [
        r["agent_id"]
        for r in db.query(
            "SELECT agent_id FROM server_agents WHERE server_id = ? ORDER BY rowid", [server_id]
        )
    ]


def agent_servers(db: Transaction, agent_id: str) -> list[str]:
    return [
        r["server_id"]
        for r in db.query(
            "SELECT server_id FROM server_agents WHERE agent_id = ? ORDER BY rowid", [agent_id]
        )
    ]


def add_server_agent(db: Transaction, server_id: str, agent_id: str) -> None:
    db.execute(
        "INSERT INTO server_agents (server_id, agent_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [server_id, agent_id],
    )


def remove_server_agent(db: Transaction, server_id: str, agent_id: str) -> bool:
    return bool(db.execute(
        "DELETE FROM server_agents WHERE server_id = ? AND agent_id = ?", [server_id, agent_id]
    ).rowcount)
