"""The events of the message bus, and the message structure they carry.

Names are the ElizaOS event names, so plugins written against ElizaOS's bus recognise them.
A `NewMessage` carries the message as ElizaOS's MessageServiceStructure (snake_case), built by
`message_struct` from a stored row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    """Base of every bus event; `name` is the ElizaOS event name."""

    name: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NewMessage(Event):
    """A message was stored in a channel. `message` is the ElizaOS MessageServiceStructure
    (snake_case: id, channel_id, message_server_id, server_id, author_id, content, ...)."""

    name: ClassVar[str] = "new_message"
    message: dict[str, Any]
    route: MessageRoute | None = field(default=None, compare=False, repr=False)
    # The connection the message came from (a Socket.IO sid), so the realtime hub does not
    # echo it back to its sender; like the route, never stored and not shown to listeners.
    origin: str | None = field(default=None, compare=False, repr=False)

    @property
    def channel_id(self) -> str:
        return str(self.message["channel_id"])

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message}  # route and origin are the bus's business


@dataclass(frozen=True)
class MessageRoute:
    """Who a stored message is for, read in the transaction that stored it: the agents that
    take part in its channel and are subscribed to its message server (the author
    excluded), and the channel row as it was then."""

    agents: frozenset[str]
    channel: dict[str, Any]


@dataclass(frozen=True)
class MessageDeleted(Event):
    name: ClassVar[str] = "message_deleted"
    message_id: str
    channel_id: str


@dataclass(frozen=True)
class ChannelCleared(Event):
    name: ClassVar[str] = "channel_cleared"
    channel_id: str


@dataclass(frozen=True)
class ChannelUpdated(Event):
    name: ClassVar[str] = "channel_updated"
    channel_id: str
    updates: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelDeleted(Event):
    name: ClassVar[str] = "channel_deleted"
    channel_id: str


@dataclass(frozen=True)
class ServerAgentUpdate(Event):
    name: ClassVar[str] = "server_agent_update"
    type: str  # agent_added_to_server | agent_removed_from_server
    message_server_id: str
    agent_id: str


@dataclass(frozen=True)
class MessageComplete(Event):
    """An agent is done with a channel for now. When its turn failed, `error` says why
    (for the person chatting), with the agent and the message it could not answer."""

    name: ClassVar[str] = "message_complete"
    channel_id: str
    message_server_id: str
    agent_id: str | None = None
    agent_name: str | None = None
    in_reply_to: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class MessageStreamChunk(Event):
    name: ClassVar[str] = "message_stream_chunk"
    message_id: str  # the reply being streamed (its id once stored)
    channel_id: str
    agent_id: str
    chunk: str
    index: int
    in_reply_to: str | None = None  # the message being answered


# -- the deployment's own events (never seen by plugins or Socket.IO clients) ---------------


@dataclass(frozen=True)
class AgentChanged(Event):
    """An agent was created, updated, deleted, started or stopped on some worker: every
    worker reloads its record, and the one running it (or the one to run it) acts."""

    name: ClassVar[str] = "eliza:agent_changed"
    agent_id: str
    change: str  # created | updated | deleted | started | stopped
    worker_id: str = ""  # the worker that changed it


@dataclass(frozen=True)
class LeaseReleased(Event):
    """A worker gave up a lease (an agent handed over between two turns, or a job): the
    others may take it now instead of waiting for it to expire."""

    name: ClassVar[str] = "eliza:lease_released"
    lease: str
    holder: str


@dataclass(frozen=True)
class WorkerJoined(Event):
    """A worker started serving: the others rebalance their agents towards it."""

    name: ClassVar[str] = "eliza:worker_joined"
    worker_id: str


@dataclass(frozen=True)
class LogRecords(Event):
    """Log entries of one worker (as `/api/server/logs` shows them), batched, for the log
    buffer and the log stream of every other worker."""

    name: ClassVar[str] = "eliza:log_records"
    worker_id: str
    records: list[dict[str, Any]] = field(default_factory=list)
    cleared: bool = False  # the buffer was cleared (`DELETE /api/server/logs`): clear too


EVENT_TYPES: tuple[type[Event], ...] = (
    NewMessage,
    MessageDeleted,
    ChannelCleared,
    ChannelUpdated,
    ChannelDeleted,
    ServerAgentUpdate,
    MessageComplete,
    MessageStreamChunk,
)
# What plugins and `subscribe(None)` see: the ElizaOS events.
EVENT_NAMES: frozenset[str] = frozenset(t.name for t in EVENT_TYPES)
CONTROL_TYPES: tuple[type[Event], ...] = (AgentChanged, LeaseReleased, WorkerJoined, LogRecords)
CONTROL_NAMES: frozenset[str] = frozenset(t.name for t in CONTROL_TYPES)
# Every event a subscription may name, by name (how a shared bus decodes what it receives).
ALL_EVENT_TYPES: dict[str, type[Event]] = {t.name: t for t in (*EVENT_TYPES, *CONTROL_TYPES)}
# What an agent runtime's inbox asks for: the events its turn handler acts on.
AGENT_EVENTS: frozenset[str] = frozenset(
    {NewMessage.name, MessageDeleted.name, ChannelCleared.name, ChannelDeleted.name}
)


def raw_dict(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("raw_message")
    return raw if isinstance(raw, dict) else {}


def message_struct(row: dict[str, Any], server_id: str) -> dict[str, Any]:
    """The bus payload (MessageServiceStructure), with the 1.7 and the 1.5 server key."""
    metadata = row.get("metadata") or {}
    return {
        "id": row["id"],
        "channel_id": row["channel_id"],
        "message_server_id": server_id,
        "server_id": server_id,
        "author_id": row["author_id"],
        "author_display_name": metadata.get("user_display_name")
        or metadata.get("authorDisplayName") or metadata.get("agentName"),
        "content": row["content"],
        "raw_message": row.get("raw_message"),
        "source_id": row.get("source_id"),
        "source_type": row.get("source_type"),
        "in_reply_to_message_id": row.get("in_reply_to_root_message_id"),
        "created_at": row["created_at"],
        "metadata": metadata,
    }

