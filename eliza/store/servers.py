"""Queries for message servers and their agents."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


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


def all_servers(db: Database) -> list[dict[str, Any]]:
    return [server_json(r) for r in db.query("SELECT * FROM message_servers ORDER BY created_at")]
