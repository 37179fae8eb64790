"""What an agent runtime needs from the rest of the server, as narrow interfaces.

The runtime sits below messaging and the API: it never imports them. The messaging service
implements `Replies` (how a turn stores its reply and tells clients about it) and the agent
registry implements `AgentDirectory`; `AgentServer` hands both in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..store.agents import AgentRecord
    from ..store.protocols import Transaction
    from .agent import AgentRuntime

# Runs inside the transaction that stores a reply: `record(tx, stored_row)`.
ReplyRecorder = Callable[["Transaction", dict[str, Any]], None]


@dataclass(frozen=True)
class TurnFailure:
    """Why an agent could not answer a message, as the person chatting is told."""

    agent_id: str
    agent_name: str
    message_id: str  # the message it could not answer
    reason: str


class Replies(Protocol):
    """How an agent's turn answers a channel."""

    async def post_reply(
        self,
        *,
        channel_id: str,
        agent_id: str,
        content: str,
        message_server_id: str,
        raw_message: dict[str, Any],
        metadata: dict[str, Any],
        in_reply_to: str,
        message_id: str,
        record: ReplyRecorder,
    ) -> None:
        """Store the reply and publish it once; `record` runs in the same transaction (the
        turn's memory of the reply and its run log commit, or roll back, with it)."""
        ...

    def complete(self, channel_id: str, message_server_id: str | None = None, *,
                 failure: TurnFailure | None = None) -> None:
        """The agent is done with the channel for now (clients re-enable their input);
        `failure` when its turn could not answer (clients show why)."""
        ...

    def stream_chunk(
        self, *, message_id: str, channel_id: str, agent_id: str, chunk: str, index: int,
        in_reply_to: str | None = None,
    ) -> None:
        """One streamed piece of a reply being generated."""
        ...


class AgentDirectory(Protocol):
    """The agents this server knows, and the running ones."""

    def get(self, agent_id: str) -> AgentRecord:
        """The agent's record; raises AgentNotFound."""
        ...

    def is_agent(self, entity_id: str) -> bool: ...

    def agent_ids(self) -> list[str]:
        """Every agent's id, running or not."""
        ...

    def runtime(self, agent_id: str) -> AgentRuntime | None:
        """The running agent, or None."""
        ...

    def require_runtime(self, agent_id: str) -> AgentRuntime:
        """The running agent; raises AgentNotFound (unknown) or 404 AGENT_NOT_RUNNING."""
        ...

    def runtimes(self) -> list[AgentRuntime]: ...

    def is_running(self, agent_id: str) -> bool:
        """Whether the agent runs on some worker of the deployment (this one included)."""
        ...

    def runtime_here(self, agent_id: str) -> AgentRuntime | None:
        """The runtime in this worker; None when not running; RunsElsewhere otherwise."""
        ...

    def opened_character(self, agent_id: str) -> dict[str, Any]:
        """The agent's character, secrets opened."""
        ...

    def require_running(self, agent_id: str) -> None:
        """404 unless the agent is known and runs on some worker."""
        ...
