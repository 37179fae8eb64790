"""Owed messages: per agent, the stored messages it has yet to take in (see migration m007).

`owe` runs in the transaction that stores a message, `settle` in the one that answers it (or
takes it in without answering), so "owed" and "answered" never both hold or both fail to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .messaging import _JSON_MESSAGE, _decode
from .protocols import Transaction


@dataclass(frozen=True)
class Owed:
    """One owed message: its place in the agent's list, the message row, its channel row."""

    seq: int
    message: dict[str, Any]
    channel: dict[str, Any]


def owe(db: Transaction, message_id: str, created_at: int, agent_ids: Iterable[str]) -> None:
    db.executemany(
        "INSERT INTO owed_messages (agent_id, message_id, created_at)"
        " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [(agent_id, message_id, created_at) for agent_id in agent_ids],
    )


def is_owed(db: Transaction, agent_id: str, message_id: str) -> bool:
    return bool(list(db.query(
        "SELECT 1 FROM owed_messages WHERE agent_id = ? AND message_id = ?",
        [agent_id, message_id])))


def settle(db: Transaction, agent_id: str, message_id: str) -> bool:
    """The agent no longer owes the message; False when it did not owe it."""
    return bool(db.execute(
        "DELETE FROM owed_messages WHERE agent_id = ? AND message_id = ?",
        [agent_id, message_id]).rowcount)


def next_owed(db: Transaction, agent_id: str, after: int, limit: int) -> list[Owed]:
    """The agent's owed messages after position `after`, in the order they were stored."""
    rows = db.query(
        """SELECT o.id AS _seq, m.*, c.id AS _c_id, c.message_server_id AS _c_server,
                  c.name AS _c_name, c.type AS _c_type
           FROM owed_messages o
           JOIN central_messages m ON m.id = o.message_id
           JOIN channels c ON c.id = m.channel_id
           WHERE o.agent_id = ? AND o.id > ? ORDER BY o.id LIMIT ?""",
        [agent_id, after, limit],
    )
    out = []
    for row in rows:
        channel = {"id": row.pop("_c_id"), "message_server_id": row.pop("_c_server"),
                   "name": row.pop("_c_name"), "type": row.pop("_c_type")}
        seq = int(row.pop("_seq"))
        out.append(Owed(seq, _decode(row, _JSON_MESSAGE), channel))
    return out


def past_bounds(db: Transaction, agent_id: str, *, older_than: int, keep: int) -> bool:
    """Whether `expire` would give anything up (a read, so an agent with nothing to give up
    starts without a write)."""
    row = db.execute(
        "SELECT min(created_at), count(*) FROM owed_messages WHERE agent_id = ?",
        [agent_id]).fetchone()
    oldest, count = row[0], int(row[1])
    return count > keep or (oldest is not None and int(oldest) < older_than)


def count_owed(db: Transaction, agent_id: str) -> int:
    row = db.execute("SELECT count(*) FROM owed_messages WHERE agent_id = ?",
                     [agent_id]).fetchone()
    return int(row[0])


def expire(db: Transaction, agent_id: str, *, older_than: int, keep: int) -> list[Dropped]:
    """Give up the messages past the bounds: stored before `older_than` (epoch ms), or
    beyond the `keep` newest; oldest first."""
    dropped = [Dropped(str(r["message_id"]), str(r["channel_id"]), "older than the age bound")
               for r in db.query(
                   """SELECT o.message_id, m.channel_id FROM owed_messages o
                      JOIN central_messages m ON m.id = o.message_id
                      WHERE o.agent_id = ? AND o.created_at < ? ORDER BY o.id""",
                   [agent_id, older_than])]
    dropped += [Dropped(str(r["message_id"]), str(r["channel_id"]), "beyond the count bound")
                for r in db.query(
                    """SELECT o.message_id, m.channel_id FROM owed_messages o
                       JOIN central_messages m ON m.id = o.message_id
                       WHERE o.agent_id = ? AND o.created_at >= ?
                       ORDER BY o.id DESC LIMIT 9223372036854775807 OFFSET ?""",
                    [agent_id, older_than, keep])]
    db.executemany("DELETE FROM owed_messages WHERE agent_id = ? AND message_id = ?",
                   [(agent_id, d.message_id) for d in dropped])
    return dropped


@dataclass(frozen=True)
class Dropped:
    """An owed message given up, and why."""

    message_id: str
    channel_id: str
    reason: str
