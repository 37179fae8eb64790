"""Catching up when an agent starts: the messages it was owed but never took in.

A message is stored (and acknowledged) before any agent sees it, so one that was still in an
agent's inbox when the agent or the server stopped, or that arrived while the server was
down, is in the store with no memory of it. On start the agent takes those in, in order,
before its inbox: messages in its channels since its newest memory, at most `WINDOW_MS` old
and `MAX_MESSAGES` of them (an agent stopped for days does not answer a backlog). Taking a
message in twice is harmless: the turn sees the memory exists and does nothing.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from .. import ids
from ..bus import NewMessage
from ..messaging.shapes import message_struct
from ..store import messaging as mq

WINDOW_MS = 3_600_000
MAX_MESSAGES = 100


def missed_messages(db: Database, agent_id: str, now: int) -> list[NewMessage]:
    """The NewMessage events the agent never took in (see the module docstring)."""
    newest = db.execute("SELECT max(created_at) FROM memories WHERE agent_id = ?",
                        [agent_id]).fetchone()[0]
    if newest is None:  # it never took anything in: nothing it was owed yet
        return []
    since = max(int(newest), now - WINDOW_MS)
    candidates = mq.messages_for_agent_since(db, agent_id, since, MAX_MESSAGES)
    if not candidates:
        return []
    memory_ids = {ids.create_unique_uuid(agent_id, f"{row['id']}-{agent_id}"): row["id"]
                  for row, _ in candidates}
    marks = ", ".join("?" for _ in memory_ids)
    seen: set[Any] = {memory_ids[r[0]] for r in db.execute(
        f"SELECT id FROM memories WHERE id IN ({marks})", list(memory_ids))}
    return [NewMessage(message_struct(row, server_id))
            for row, server_id in candidates if row["id"] not in seen]
