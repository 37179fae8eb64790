"""AgentRuntime: one running agent. It consumes its bus inbox one event at a time, so the
replies in a channel follow the order of the messages; each turn runs under a deadline and a
failing turn is recorded, never fatal to the agent or the server."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from .. import ids, metrics
from ..bus import (
    AGENT_EVENTS,
    Event,
    MessageBus,
    MessageRoute,
    NewMessage,
    Subscription,
    message_struct,
)
from ..clock import now_ms
from ..errors import DatabaseUnavailable, ModelNotAvailable
from ..settings import Settings
from ..store import Store, Transaction, when_available
from ..store import owed as owed_store
from ..store.runs import insert_log
from .character import character_setting
from .embeddings import EmbeddingIndexer
from .models import ModelRegistry, ModelType

if TYPE_CHECKING:
    from ..store.leases import Fence
    from .ports import AgentDirectory, Replies

log = logging.getLogger(__name__)

OWED_BATCH = 100  # owed messages read from the store at a time
INBOX_CAPACITY = 1024  # bus events an agent buffers; past that it reads from the store

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
        # In a deployment of several workers: the lease this worker runs the agent under,
        # which every reply transaction checks (None: one process, nothing to check).
        self.fence: Fence | None = None
        self._inbox: Subscription | None = None
        self.stopping = False
        # Set once the agent has taken in what it owed when it started (tests, status).
        self.caught_up = trio.Event()
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
        return character_setting(self.character, key)

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
        started = time.perf_counter()
        outcome = "error"
        try:
            with trio.move_on_after(timeout if timeout > 0 else math.inf):
                result = await provider.handler(self, params)
                outcome = "ok"
                return result
            outcome = "timeout"
            raise ModelTimeout(f"{model_type.value} model of {self.name} took over {timeout} s")
        except trio.Cancelled:
            outcome = "cancelled"  # the turn was stopped, not the model's failure
            raise
        finally:
            metrics.MODEL_CALLS.labels(model_type.value, outcome).inc()
            metrics.MODEL_SECONDS.labels(model_type.value).observe(time.perf_counter() - started)

    # -- the inbox loop -------------------------------------------------------------------

    def open_inbox(self) -> None:
        self.stopping = False
        self._subscribe()

    def _subscribe(self) -> Subscription:
        # Only the events its turn acts on, and only the messages routed to it.
        self._inbox = self.bus.subscribe(f"agent:{self.name}", AGENT_EVENTS,
                                         capacity=INBOX_CAPACITY, address=self.agent_id)
        return self._inbox

    async def run(self) -> None:
        """Take in what the agent owes, then consume the inbox, until `close_inbox` is
        called. The inbox is only a cache of the owed list in the store: when it overflows,
        the agent subscribes again and reads what it owes from the store. A failing turn is
        recorded and the agent goes on; a crash propagates to the supervisor."""
        async with trio.open_nursery() as nursery:
            if self.embeddings is not None:
                nursery.start_soon(self.embeddings.run)
            else:
                # An outage at start-up is waited out: it is no crash of the agent.
                await when_available(partial(EmbeddingIndexer.release, self))
            first = True
            while True:
                inbox = self._inbox if self._inbox is not None else self._subscribe()
                with inbox:
                    await self._take_owed(expire=first)
                    first = False
                    self.caught_up.set()
                    async for event in inbox:
                        if self.stopping:  # still owed in the store: taken in on restart
                            break
                        await self.run_turn(event)
                        if self.embeddings is not None:
                            self.embeddings.wake()
                self._inbox = None
                if self.stopping or not inbox.overflowed:
                    break
                self.log.warning("%s fell behind its inbox; taking in what it owes from the "
                                 "store", self.name)
            nursery.cancel_scope.cancel()

    async def _take_owed(self, *, expire: bool) -> None:
        """Take in, in the order they were stored, the messages the store says this agent
        owes: those its inbox never had (posted while it was stopped or the server was down)
        or lost. One it takes in again through the inbox is skipped by the turn. With
        `expire` (when the agent starts), what it owes past the bounds is given up first."""
        if self.turn_handler is None:
            return
        after = 0
        while True:
            if expire:
                # One read when nothing is past the bounds (the common start), else a write.
                batch = await when_available(
                    lambda: self.store.read(self._first_batch_unless_expiring))
                if batch is None:
                    batch = await when_available(
                        lambda: self.store.write(self._expire_then_read))
                expire = False
            else:
                batch = await when_available(partial(
                    self.store.read, owed_store.next_owed, self.agent_id, after, OWED_BATCH))
            if not batch:
                return
            for item in batch:
                if self.stopping:
                    return
                after = item.seq
                struct = message_struct(item.message, item.channel["message_server_id"])
                await self.run_turn(NewMessage(
                    struct, route=MessageRoute(frozenset({self.agent_id}), item.channel)))

    def _owed_again(self) -> None:
        """A turn failed on the database: its message stays owed; end the inbox so the loop
        reads the owed list again (as after an overflow) and the message gets its turn."""
        if self._inbox is not None and not self._inbox.overflowed:
            self.log.warning("%s could not reach the database during a turn; what it owes is "
                             "taken in again", self.name)
            self._inbox.overflowed = True
            self._inbox.close()

    def _bounds(self) -> tuple[int, int]:
        """(owed before this epoch ms is given up, how many newest are kept)."""
        return (now_ms() - int(self.settings.owed_max_age_minutes * 60_000),
                self.settings.owed_max_count)

    def _first_batch_unless_expiring(self, db: Transaction) -> list[owed_store.Owed] | None:
        older_than, keep = self._bounds()
        if owed_store.past_bounds(db, self.agent_id, older_than=older_than, keep=keep):
            return None
        return owed_store.next_owed(db, self.agent_id, 0, OWED_BATCH)

    def _expire_then_read(self, db: Transaction) -> list[owed_store.Owed]:
        """Give up what the agent owes past the bounds (age, count), each with a log line
        and a row in the agent's logs (never dropped in silence); then the first batch of
        what it still owes, in one transaction."""
        agent_id = self.agent_id
        now = now_ms()
        older_than, keep = self._bounds()
        dropped = owed_store.expire(db, agent_id, older_than=older_than, keep=keep)
        for item in dropped:
            insert_log(db, log_id=ids.new_uuid(), agent_id=agent_id, entity_id=agent_id,
                       room_id=ids.create_unique_uuid(agent_id, item.channel_id),
                       type_="owed_message_dropped", created_at=now, run_id=None,
                       body={"messageId": item.message_id, "channelId": item.channel_id,
                             "reason": item.reason})
        if dropped:
            # Logged from the writer thread: the log capture is thread-safe.
            self.log.warning("%s gave up %d owed message(s) on start: %s", self.name,
                             len(dropped), "; ".join(f"{d.message_id} ({d.reason})"
                                                     for d in dropped[:10]))
        return owed_store.next_owed(db, agent_id, 0, OWED_BATCH)

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
        started = time.perf_counter()
        try:
            with trio.fail_after(timeout):
                await handler(self, event)
            self.stats.turns += 1
            metrics.TURNS.labels("ok").inc()
        except Exception as exc:  # one bad turn must not take the agent down
            metrics.TURNS.labels("timeout" if isinstance(exc, trio.TooSlowError)
                                 else "failed").inc()
            if isinstance(exc, DatabaseUnavailable):
                self._owed_again()
            self.stats.turns += 1
            self.stats.failures += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            self.stats.last_error_at = trio.current_time()
            if isinstance(exc, trio.TooSlowError):
                self.stats.last_error = f"turn took over {timeout} s"
            self.log.error("turn failed on %s: %s", event.name, self.stats.last_error,
                           exc_info=not isinstance(exc, trio.TooSlowError | ModelTimeout))
        finally:
            metrics.TURN_SECONDS.observe(time.perf_counter() - started)


_TEXT = frozenset({ModelType.TEXT_SMALL, ModelType.TEXT_LARGE, ModelType.TEXT_COMPLETION,
                   ModelType.TEXT_REASONING_SMALL, ModelType.TEXT_REASONING_LARGE})
