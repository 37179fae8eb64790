"""Typed shapes of the answers the SDK returns (the common fields; servers may add more)."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

DEFAULT_SERVER_ID = "00000000-0000-0000-0000-000000000000"

AgentStatus = Literal["active", "inactive", "stopped", "error"]
SessionTransport = Literal["http", "websocket"]


class AgentSummary(TypedDict):
    """One entry of `agents.list()`."""

    id: str
    name: str
    characterName: str
    bio: str
    status: str


class CreatedAgent(TypedDict):
    id: str
    character: dict[str, Any]


class Channel(TypedDict, total=False):
    id: str
    messageServerId: str
    name: str
    type: str
    metadata: dict[str, Any]
    createdAt: str
    updatedAt: str


class Message(TypedDict, total=False):
    """A stored channel message (camelCase keys; the server adds snake_case twins)."""

    id: str
    channelId: str
    authorId: str
    content: str
    rawMessage: dict[str, Any]
    sourceType: str
    inReplyToRootMessageId: str | None
    metadata: dict[str, Any]
    createdAt: str
    updatedAt: str
    created_at: int
    score: float  # search hits only: higher is more relevant


class Session(TypedDict, total=False):
    sessionId: str
    channelId: str
    agentId: str
    userId: str
    createdAt: str
    lastActivity: str
    expiresAt: str
    metadata: dict[str, Any]
    timeoutConfig: dict[str, Any]
    renewalCount: int
    timeRemaining: int
    isNearExpiration: bool


class SessionMessages(TypedDict, total=False):
    messages: list[dict[str, Any]]
    hasMore: bool
    cursors: dict[str, int]


class Ping(TypedDict):
    pong: bool
    timestamp: int


class LogEntry(TypedDict, total=False):
    time: int
    level: int
    msg: str
    agentName: str | None
    agentId: str | None


class LogsPage(TypedDict, total=False):
    logs: list[LogEntry]
    count: int
    total: int
    requestedLevel: str
    agentName: str
    agentId: str
    levels: list[str]
