"""Queries for agents and the server's small key-value metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .protocols import Transaction


@dataclass
class AgentRecord:
    """An agent as stored: its character (secrets sealed), flags and timestamps (ms)."""

    id: str
    character: dict[str, Any]
    enabled: bool
    running: bool
    created_at: int
    updated_at: int

    @property
    def name(self) -> str:
        return str(self.character["name"])

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "enabled": int(self.enabled),
            "running": int(self.running),
            "character": json.dumps(self.character),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AgentRecord:
        return cls(
            id=row["id"],
            character=json.loads(row["character"]),
            enabled=bool(row["enabled"]),
            running=bool(row["running"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


def all_agents(db: Transaction) -> list[AgentRecord]:
    return [AgentRecord.from_row(r) for r in db.query("SELECT * FROM agents ORDER BY name")]


def stored_characters(db: Transaction) -> list[Any]:
    """Every agent's character as stored (secrets sealed); one that is not JSON is left out."""
    found = []
    for row in db.query("SELECT character FROM agents"):
        try:
            found.append(json.loads(row["character"]))
        except ValueError:
            continue
    return found


def get_agent(db: Transaction, agent_id: str) -> AgentRecord | None:
    rows = list(db.query("SELECT * FROM agents WHERE id = ?", [agent_id]))
    return AgentRecord.from_row(rows[0]) if rows else None


def agent_stamps(db: Transaction) -> dict[str, tuple[int, bool, bool]]:
    """Per agent id: (updated_at, running, enabled): what tells a worker its cached record
    changed on another worker, without reading every character."""
    return {str(r["id"]): (int(r["updated_at"]), bool(r["running"]), bool(r["enabled"]))
            for r in db.query("SELECT id, updated_at, running, enabled FROM agents")}


def save_agent(db: Transaction, record: AgentRecord) -> None:
    db.upsert("agents", record.to_row(), pk="id")


def save_agents(db: Transaction, records: list[AgentRecord]) -> None:
    for record in records:
        save_agent(db, record)


def add_agent_to_server(db: Transaction, server_id: str, agent_id: str) -> None:
    db.execute(
        "INSERT INTO server_agents (server_id, agent_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [server_id, agent_id],
    )


def delete_agent(db: Transaction, agent_id: str) -> int:
    return db.execute("DELETE FROM agents WHERE id = ?", [agent_id]).rowcount


def set_running(db: Transaction, agent_id: str, running: bool) -> None:
    db.execute("UPDATE agents SET running = ? WHERE id = ?", [int(running), agent_id])


def get_meta(db: Transaction, key: str) -> str | None:
    rows = list(db.query("SELECT value FROM meta WHERE key = ?", [key]))
    return rows[0]["value"] if rows else None


def set_meta(db: Transaction, key: str, value: str) -> None:
    db.execute("INSERT INTO meta (key, value) VALUES (?, ?)"
               " ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])
