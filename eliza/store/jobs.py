"""The `jobs` table (the Jobs API: one-off messages to an agent, each finished by the
agent's reply) and its queries.

Stored, unlike ElizaOS's in-memory map, so a job survives a restart and every worker of a
deployment answers for it. Every query takes a `Transaction` first; callers go through
`Store.read` / `Store.write`. Times are epoch ms; `metadata` and `result` are JSON text.
"""

from __future__ import annotations

import json
from typing import Any

from . import messaging as mq
from .protocols import Transaction

_JSON = ("metadata", "result")
UNFINISHED = ("pending", "processing")


def create_jobs_table(db: Any) -> None:
    """The core migration `m009_jobs`. No foreign keys: a job outlives nothing it names for
    long (it is swept minutes after it ends), and a job whose agent or channel went away
    just never gets its reply. `processing_ms` is kept apart from `result` so the health
    route averages it in SQL."""
    db.execute(
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            user_message_id TEXT NOT NULL,
            content TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            result TEXT,
            error TEXT,
            processing_ms INTEGER
        )"""
    )
    db.execute("CREATE INDEX jobs_created ON jobs(created_at)")
    db.execute("CREATE INDEX jobs_status_expiry ON jobs(status, expires_at)")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON:
        value = out.get(key)
        out[key] = json.loads(value) if value else None
    out["metadata"] = out["metadata"] or {}
    return out


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: json.dumps(value) if key in _JSON and value is not None else value
            for key, value in fields.items()}


def create_job(db: Transaction, job: dict[str, Any], channel: dict[str, Any],
               members: list[str]) -> None:
    """The job's channel and the job in one transaction: a failure leaves neither."""
    mq.insert_channel(db, channel, members)
    db.insert("jobs", _encode(job))


def get_job(db: Transaction, job_id: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
    return _decode(rows[0]) if rows else None


def finish_job(db: Transaction, job_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    """Set an unfinished job's outcome; a job that already ended keeps its own (the first
    outcome wins, whichever worker writes it). Returns the job as stored after."""
    db.execute(
        f"UPDATE jobs SET {', '.join(f'{key} = ?' for key in fields)}"
        " WHERE id = ? AND status IN (?, ?)",
        [*_encode(fields).values(), job_id, *UNFINISHED])
    return get_job(db, job_id)


def list_jobs(db: Transaction, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest first."""
    where, args = ("WHERE status = ?", [status]) if status else ("", [])
    return [_decode(r) for r in db.query(
        f"SELECT * FROM jobs {where} ORDER BY created_at DESC, id LIMIT ?", [*args, limit])]


def count_jobs(db: Transaction) -> int:
    return int(next(iter(db.query("SELECT count(*) AS n FROM jobs")))["n"])


def status_totals(db: Transaction) -> dict[str, tuple[int, int]]:
    """status -> (jobs, their summed processing time in ms)."""
    return {r["status"]: (int(r["n"]), int(r["ms"])) for r in db.query(
        "SELECT status, count(*) AS n, COALESCE(sum(processing_ms), 0) AS ms"
        " FROM jobs GROUP BY status")}


def overdue_jobs(db: Transaction, now: int, limit: int) -> list[dict[str, Any]]:
    """Unfinished jobs whose time is up, the longest overdue first."""
    return [_decode(r) for r in db.query(
        "SELECT * FROM jobs WHERE status IN (?, ?) AND expires_at <= ?"
        " ORDER BY expires_at LIMIT ?", [*UNFINISHED, now, limit])]


def delete_finished(db: Transaction, before: int) -> int:
    """Delete the jobs that ended and expired before `before`."""
    return int(db.execute(
        "DELETE FROM jobs WHERE status NOT IN (?, ?) AND expires_at < ?",
        [*UNFINISHED, before]).rowcount)


def agent_reply(db: Transaction, channel_id: str, message_id: str,
                agent_id: str) -> dict[str, Any] | None:
    """The agent's stored reply to the job's message, if any."""
    row = mq.find_reply(db, channel_id, message_id)
    return row if row is not None and row["author_id"] == agent_id else None


def turn_error(db: Transaction, agent_id: str, room_id: str, message_id: str) -> str | None:
    """The error of the agent's failed turn on `message_id`: the `run_event` its turn ended
    with (status `error`), from the agent's run log of the job's room."""
    for row in db.query(
            "SELECT body FROM logs WHERE agent_id = ? AND room_id = ? AND type = 'run_event'"
            " ORDER BY created_at", [agent_id, room_id]):
        body = json.loads(row["body"])
        if body.get("messageId") == message_id and body.get("status") == "error":
            return str(body.get("error") or "The agent's turn failed")
    return None
