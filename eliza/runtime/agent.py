"""AgentRuntime: one running agent. It consumes its bus inbox one event at a time, so the
replies in a channel follow the order of the messages; each turn runs under a deadline and a
failing turn is recorded, never fatal to the agent or the server."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from ..bus import AGENT_EVENTS, Event, MessageBus, Subscription
from ..clock import now_ms
from ..errors import ModelNotAvailable
from ..settings import Settings
from ..store import Store
from .catchup import missed_messages
from .embeddings import EmbeddingIndexer
from .models import ModelRegistry, ModelType

if TYPE_CHECKING:
    from .ports import AgentDirectory, Replies

log = logging.getLogger(__name__)

TurnHandler = Callable[["AgentRuntime", Event], Awaitable[None]]
ChunkCallback = Callable[[str, int], Awaitable[None]]


class ModelTimeout(Exception):
    """A model call ran past its deadline."""


@dataclass
class TurnStats:
    turns: int = 0
    failures: int = 0
    last_error: str | None = None
    last_error_at: float | None = None


class AgentRuntime:
    """One agent: its character, its models and the plugins its character enables, and what
    its turns use: the store, the bus (its inbox), `replies` (how a turn answers), the
    directory of agents, the settings and the turn handler (None: it takes nothing in)."""

    def __init__(
        self,
        agent_id: str,
        character: dict[str, Any],
        models: ModelRegistry,
        enabled_plugins: frozenset[str],
        *,
        store: Store,
        bus: MessageBus,
        replies: Replies,
        agents: AgentDirectory,
        settings: Settings,
        turn_handler: TurnHandler | None,
    ) -> None:
        self.agent_id = agent_id
        self.character = character
        self.models = models
        self.enabled_plugins = enabled_plugins
        self.store = store
        self.bus = bus
        self.replies = replies
        self.agents = agents
        self.settings = settings
        self.turn_handler = turn_handler
        self.stats = TurnStats()
        self._inbox: Subscription | None = None
        self.stopping = False
        # Gives the agent's memories their vectors, when it has a TEXT_EMBEDDING model.
        self.embeddings = EmbeddingIndexer.for_runtime(self)
        self.log = logging.LoggerAdapter(
            log, {"agent_name": self.name, "agent_id": agent_id}
        )

    @property
    def name(self) -> str:
        return str(self.character["name"])

    def get_setting(self, key: str) -> Any:
        """A setting from the character only (secrets first); never from the process env."""
        settings = self.character.get("settings") or {}
        for source in (settings.get("secrets") or {}, self.character.get("secrets") or {},
                       settings):
            if key in source and source[key] is not None:
                return source[key]
        return None

    # -- models -------------------------------------------------------------------------

    async def use_model(self, model_type: ModelType, params: dict[str, Any]) -> Any:
        """Call the agent's best handler for `model_type` under the model deadline.
        A text model's stream is joined into one string."""
        if model_type in _TEXT:
            return await self.generate(model_type, params)
        return await self._call(model_type, params)

    async def generate(
        self,
        model_type: ModelType,
        params: dict[str, Any],
        on_chunk: ChunkCallback | None = None,
    ) -> str:
        """Generate text; when the handler streams, each chunk goes to `on_chunk` first."""
        result = await self._call(model_type, params)
        if isinstance(result, str):
            return result
        if result is None:
            return ""
        if not hasattr(result, "__aiter__"):
            return str(result)
        parts: list[str] = []
        stream: AsyncIterator[Any] = result
        try:
            with trio.fail_after(self.settings.model_timeout):
                async for chunk in stream:
                    text = str(chunk)
                    if not text:
                        continue
                    if on_chunk is not None:
                        await on_chunk(text, len(parts))
                    parts.append(text)
        finally:
            # Close an abandoned generator here, inside trio, not at garbage collection.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with trio.CancelScope(shield=True):
                    await aclose()
        return "".join(parts)

    async def _call(self, model_type: ModelType, params: dict[str, Any]) -> Any:
        provider = self.models.get(model_type)
        if provider is None:
            raise ModelNotAvailable(
                f"Agent {self.name} has no {model_type.value} model",
                details={"agentId": self.agent_id, "modelType": model_type.value},
            )
        timeout = self.settings.model_timeout
        with trio.move_on_after(timeout if timeout > 0 else math.inf):
            return await provider.handler(self, params)
        raise ModelTimeout(f"{model_type.value} model of {self.name} took over {timeout} s")

    # -- the inbox loop -------------------------------------------------------------------

    def open_inbox(self) -> None:
        self.stopping = False
        # Only the events its turn acts on, and only the messages routed to it.
        self._inbox = self.bus.subscribe(f"agent:{self.name}", AGENT_EVENTS,
                                                address=self.agent_id)

    async def run(self) -> None:
        """Consume the inbox until `close_inbox` is called. A crash (such as falling behind
        the inbox) propagates to the supervisor, which restarts the agent; a failing turn
        does not."""
        if self._inbox is None:
            self.open_inbox()
        inbox = self._inbox
        assert inbox is not None
        async with trio.open_nursery() as nursery:
            if self.embeddings is not None:
                nursery.start_soon(self.embeddings.run)
            else:
                await EmbeddingIndexer.release(self)
            with inbox:
                for missed in await self._missed_messages():
                    if self.stopping:
                        break
                    await self.run_turn(missed)
                async for event in inbox:
                    if self.stopping:  # events still queued when the stop came are dropped
                        break
                    await self.run_turn(event)
                    if self.embeddings is not None:
                        self.embeddings.wake()
            nursery.cancel_scope.cancel()
        self._inbox = None
        if inbox.overflowed and not self.stopping:
            raise RuntimeError(f"agent {self.name} fell behind its inbox")

    async def _missed_messages(self) -> list[Event]:
        """Messages stored for this agent that it never took in (`catchup`)."""
        if self.turn_handler is None:
            return []
        events = await self.store.read(missed_messages, self.agent_id, now_ms())
        if events:
            self.log.info("%s catches up on %d message(s)", self.name, len(events))
        return list(events)

    def close_inbox(self) -> None:
        """Finish the turn in progress, then return from `run`."""
        self.stopping = True
        if self._inbox is not None:
            self._inbox.close()

    async def run_turn(self, event: Event) -> None:
        handler = self.turn_handler
        if handler is None:
            return
        timeout = self.settings.turn_timeout
        try:
            with trio.fail_after(timeout):
                await handler(self, event)
            self.stats.turns += 1
        except Exception as exc:  # one bad turn must not take the agent down
            self.stats.turns += 1
            self.stats.failures += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            self.stats.last_error_at = trio.current_time()
            if isinstance(exc, trio.TooSlowError):
                self.stats.last_error = f"turn took over {timeout} s"
            self.log.error("turn failed on %s: %s", event.name, self.stats.last_error,
                           exc_info=not isinstance(exc, trio.TooSlowError | ModelTimeout))


_TEXT = frozenset({ModelType.TEXT_SMALL, ModelType.TEXT_LARGE, ModelType.TEXT_COMPLETION,
                   ModelType.TEXT_REASONING_SMALL, ModelType.TEXT_REASONING_LARGE})
