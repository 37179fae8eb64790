"""Catching up when an agent starts: the messages it was owed but never took in.

A message is stored (and acknowledged) before any agent sees it, so one that was still in an
agent's inbox when the agent or the server stopped, or that arrived while the server was
down, is in the store with no memory of it. On start the agent takes those in, in order,
before its inbox: messages in its channels since its newest memory, at most `WINDOW_MS` old
and `MAX_MESSAGES` of them (an agent stopped for days does not answer a backlog). Taking a
message in twice is harmless: the turn sees the memory exists and does nothing.
"""

from __future__ import annotations

from .. import ids
from ..bus import NewMessage, message_struct
from ..store import agent_memory as am
from ..store import messaging as mq
from ..store.protocols import Transaction

WINDOW_MS = 3_600_000
MAX_MESSAGES = 100


def missed_messages(db: Transaction, agent_id: str, now: int) -> list[NewMessage]:
    """The NewMessage events the agent never took in (see the module docstring)."""
    newest = am.newest_memory_at(db, agent_id)
    if newest is None:  # it never took anything in: nothing it was owed yet
        return []
    since = max(newest, now - WINDOW_MS)
    candidates = mq.messages_for_agent_since(db, agent_id, since, MAX_MESSAGES)
    if not candidates:
        return []
    memory_ids = {ids.create_unique_uuid(agent_id, f"{row['id']}-{agent_id}"): row["id"]
                  for row, _ in candidates}
    seen = {memory_ids[m] for m in am.existing_memory_ids(db, list(memory_ids))}
    return [NewMessage(message_struct(row, server_id))
            for row, server_id in candidates if row["id"] not in seen]
