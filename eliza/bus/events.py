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
    name: ClassVar[str] = "message_complete"
    channel_id: str
    message_server_id: str


@dataclass(frozen=True)
class MessageStreamChunk(Event):
    name: ClassVar[str] = "message_stream_chunk"
    message_id: str  # the reply being streamed (its id once stored)
    channel_id: str
    agent_id: str
    chunk: str
    index: int
    in_reply_to: str | None = None  # the message being answered


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
EVENT_NAMES: frozenset[str] = frozenset(t.name for t in EVENT_TYPES)
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

