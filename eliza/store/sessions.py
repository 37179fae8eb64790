"""Queries for the `sessions` table (the Sessions API; stored so sessions survive a restart).

Every function takes a `Transaction` first and runs synchronously; callers go
through `Store.read` / `Store.write`. Times are epoch ms; `metadata` and `timeout_config` are
JSON documents stored as TEXT and decoded here.
"""

from __future__ import annotations

import json
from typing import Any

from . import messaging as mq
from .protocols import Transaction

_JSON = ("metadata", "timeout_config")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON:
        value = out.get(key)
        out[key] = json.loads(value) if value else {}
    out["warning_state"] = bool(out.get("warning_state"))
    return out


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    for key in _JSON:
        if key in out:
            out[key] = json.dumps(out[key])
    if "warning_state" in out:
        out["warning_state"] = int(bool(out["warning_state"]))
    return out


def create_session(
    db: Transaction, session: dict[str, Any], channel: dict[str, Any], members: list[str]
) -> None:
    """Insert the session's channel and the session in one transaction, so a failure
    leaves neither behind."""
    mq.insert_channel(db, channel, members)
    db.insert("sessions", _encode(session))


def get_session(db: Transaction, session_id: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM sessions WHERE id = ?", [session_id]))
    return _decode(rows[0]) if rows else None


def update_session(
    db: Transaction, session_id: str, fields: dict[str, Any]
) -> dict[str, Any] | None:
    db.update("sessions", session_id, _encode(fields))
    return get_session(db, session_id)


def delete_session(db: Transaction, session_id: str) -> bool:
    """Delete the session only; its channel and messages stay (as in ElizaOS)."""
    return bool(db.execute("DELETE FROM sessions WHERE id = ?", [session_id]).rowcount)


def all_sessions(db: Transaction) -> list[dict[str, Any]]:
    return [_decode(r) for r in db.query("SELECT * FROM sessions ORDER BY created_at, rowid")]


def delete_expired(db: Transaction, now: int) -> list[str]:
    """Delete every session whose expiry is past; returns their ids."""
    ids = [r["id"] for r in db.query("SELECT id FROM sessions WHERE expires_at <= ?", [now])]
    if ids:
        db.execute("DELETE FROM sessions WHERE expires_at <= ?", [now])
    return ids


def mark_warned(db: Transaction, session_ids: list[str]) -> None:
    db.executemany("UPDATE sessions SET warning_state = 1 WHERE id = ?",
                        [(s,) for s in session_ids])


def delete_all(db: Transaction) -> int:
    return int(db.execute("DELETE FROM sessions").rowcount)
