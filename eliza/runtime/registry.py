"""AgentRegistry: every agent's record (cached in memory) and the running ones, each a
supervised task in the registry's nursery.

A crashing agent is restarted with backoff and quarantined after repeated crashes; it never
affects another agent or the server. Stopping an agent lets its turn in progress finish
within a grace period, then cancels it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from .. import ids
from ..clock import now_ms
from ..errors import AgentNotFound, Conflict, NotFound
from ..store import Store
from ..store import agents as q
from .agent import AgentRuntime, TurnHandler
from .character import deep_merge, keep_masked_secrets, validate_character

if TYPE_CHECKING:
    from ..security.secrets import SecretBox
    from ..store.agents import AgentRecord

# Builds the runtime of an agent from its record (character still sealed) and the turn
# handler its inbox feeds.
RuntimeFactory = Callable[["AgentRecord", "TurnHandler | None"], AgentRuntime]

log = logging.getLogger(__name__)

CRASH_WINDOW = 60.0  # seconds
MAX_CRASHES = 5  # within the window, then the agent is quarantined
STOP_GRACE = 5.0


@dataclass
class _Running:
    runtime: AgentRuntime
    cancel_scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    stopped: trio.Event = field(default_factory=trio.Event)
    crashes: list[float] = field(default_factory=list)


class AgentRegistry:
    """Implements the runtime's `AgentDirectory`. `turn_handler` is what each running
    agent's inbox feeds (None: agents take nothing in, which tests use)."""

    def __init__(
        self,
        store: Store,
        secrets: SecretBox,
        build_runtime: RuntimeFactory,
        turn_handler: TurnHandler | None,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.build_runtime = build_runtime
        self.turn_handler = turn_handler
        self.records: dict[str, AgentRecord] = {}
        self._running: dict[str, _Running] = {}
        self.quarantined: dict[str, str] = {}
        self._nursery: trio.Nursery | None = None
        self._lock = trio.Lock()  # lifecycle changes of agents happen one at a time
        # Bumped on every change a listing shows, so cached listings know when to rebuild.
        self.version = 0

    # -- reading ------------------------------------------------------------------------

    def get(self, agent_id: str) -> AgentRecord:
        record = self.records.get(agent_id)
        if record is None:
            raise AgentNotFound("Agent not found")
        return record

    def is_agent(self, entity_id: str) -> bool:
        return entity_id in self.records

    def agent_ids(self) -> list[str]:
        return list(self.records)

    def runtime(self, agent_id: str) -> AgentRuntime | None:
        running = self._running.get(agent_id)
        return running.runtime if running else None

    def require_runtime(self, agent_id: str) -> AgentRuntime:
        """The running agent: 404 AGENT_NOT_FOUND when unknown, 404 AGENT_NOT_RUNNING when
        stopped (the one place routes that need a running agent check it)."""
        self.get(agent_id)
        running = self._running.get(agent_id)
        if running is None:
            raise NotFound("Agent is not running", code="AGENT_NOT_RUNNING")
        return running.runtime

    def runtimes(self) -> list[AgentRuntime]:
        return [r.runtime for r in self._running.values()]

    def status(self, agent_id: str) -> str:
        if agent_id in self._running:
            return "active"
        return "error" if agent_id in self.quarantined else "inactive"

    # -- the supervising nursery --------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        resealed = []
        for record in await self.store.read(q.all_agents):
            # A secret stored in clear by an older version (one that sealed only strings) is
            # sealed now, so no secret stays readable in the database.
            sealed = self.secrets.encrypt_character(record.character)
            if sealed != record.character:
                record.character = sealed
                resealed.append(record)
            self.records[record.id] = record
        if resealed:
            await self.store.write(q.save_agents, resealed)
            log.info("sealed the secrets of %d agent(s) stored in clear", len(resealed))
        self.version += 1
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    async def adopt_stored(self) -> None:
        """Take in the agents stored since `run` loaded them: another server sharing the
        database (PostgreSQL) may have created some in between."""
        async with self._lock:
            for record in await self.store.read(q.all_agents):
                if record.id not in self.records:
                    self.records[record.id] = record
                    self.version += 1

    async def resume(self) -> None:
        """Start the agents whose stored desired state is running: those that ran at shutdown
        run again after a restart, and no others."""
        for record in list(self.records.values()):
            if record.running and record.enabled:
                try:
                    await self.start(record.id)
                except Exception:
                    log.exception("agent %s could not be resumed", record.name)

    async def stop_all(self, grace: float = STOP_GRACE) -> None:
        """Stop every agent (keeping their desired state, so a restart resumes them)."""
        async with trio.open_nursery() as nursery:
            for agent_id in list(self._running):
                nursery.start_soon(self._stop_runtime, agent_id, grace)

    # -- CRUD -----------------------------------------------------------------------------

    async def create(self, character: dict[str, Any]) -> tuple[AgentRecord, bool]:
        """Store a new agent; an existing agent with the same id is returned unchanged
        (as ElizaOS does). Returns (record, created)."""
        character = validate_character(character)
        agent_id = ids.validate_uuid(character.get("id")) or ids.string_to_uuid(character["name"])
        character["id"] = agent_id
        async with self._lock:
            if agent_id in self.records:
                return self.records[agent_id], False
            if any(r.name == character["name"] for r in self.records.values()):
                raise Conflict(f"An agent named {character['name']!r} already exists")
            now = now_ms()
            sealed = self.secrets.encrypt_character(character)
            record = q.AgentRecord(agent_id, sealed, True, False, now, now)

            def insert(db: Any) -> None:
                q.save_agent(db, record)
                q.add_agent_to_server(db, ids.DEFAULT_SERVER_ID, agent_id)

            await self.store.write(insert)
            self.records[agent_id] = record
            self.version += 1
        log.info("agent %s created", record.name, extra={"agent_id": agent_id,
                                                           "agent_name": record.name})
        return record, True

    async def update(self, agent_id: str, patch: dict[str, Any]) -> AgentRecord:
        """Deep-merge `patch` into the character; a running agent restarts with it."""
        current = self.get(agent_id)
        patch = keep_masked_secrets(patch, current.character)
        for key in ("id", "createdAt", "updatedAt", "status", "server_id"):
            patch.pop(key, None)
        enabled = patch.pop("enabled", None)
        opened = self.secrets.decrypt_character(current.character)
        merged = validate_character(deep_merge(opened, patch))
        merged["id"] = agent_id
        async with self._lock:
            if merged["name"] != current.name and any(
                r.name == merged["name"] and r.id != agent_id for r in self.records.values()
            ):
                raise Conflict(f"An agent named {merged['name']!r} already exists")
            record = q.AgentRecord(
                agent_id,
                self.secrets.encrypt_character(merged),
                current.enabled if enabled is None else bool(enabled),
                current.running,
                current.created_at,
                now_ms(),
            )
            await self.store.write(q.save_agent, record)
            self.records[agent_id] = record
            self.version += 1
            was_running = agent_id in self._running
        if was_running:
            await self.stop(agent_id, remember=False)
            await self.start(agent_id)
        return record

    async def delete(self, agent_id: str) -> None:
        self.get(agent_id)
        if agent_id in self._running:
            await self.stop(agent_id)
        async with self._lock:
            await self.store.write(q.delete_agent, agent_id)
            self.records.pop(agent_id, None)
            self.version += 1
            self.quarantined.pop(agent_id, None)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, agent_id: str) -> AgentRuntime:
        record = self.get(agent_id)
        async with self._lock:
            running = self._running.get(agent_id)
            if running is not None:
                return running.runtime
            if self._nursery is None:
                raise RuntimeError("the agent registry is not running")
            runtime = self.build_runtime(record, self.turn_handler)
            self.quarantined.pop(agent_id, None)
            await self._nursery.start(self._supervise, runtime)
            if not record.running:
                record.running = True
                await self.store.write(q.set_running, agent_id, True)
        runtime.log.info("agent %s started", runtime.name)
        return runtime

    async def stop(self, agent_id: str, *, remember: bool = True) -> None:
        """Stop a running agent; with `remember`, it stays stopped across restarts."""
        record = self.get(agent_id)
        await self._stop_runtime(agent_id, STOP_GRACE)
        if remember and record.running:
            record.running = False
            await self.store.write(q.set_running, agent_id, False)

    async def _stop_runtime(self, agent_id: str, grace: float) -> None:
        running = self._running.get(agent_id)
        if running is None:
            return
        running.runtime.close_inbox()
        running.cancel_scope.deadline = trio.current_time() + grace
        await running.stopped.wait()

    async def _supervise(
        self, runtime: AgentRuntime, *, task_status: trio.TaskStatus[None]
    ) -> None:
        running = _Running(runtime)
        self._running[runtime.agent_id] = running
        self.version += 1
        try:
            # Subscribe before reporting started, so no message published after start()
            # returns can be missed.
            runtime.open_inbox()
            task_status.started()
            with running.cancel_scope:
                while not runtime.stopping:
                    try:
                        await runtime.run()
                    except Exception as exc:
                        if self._crashed(running, exc):
                            return
                        await trio.sleep(min(30.0, 0.5 * 2 ** len(running.crashes)))
        finally:
            self._running.pop(runtime.agent_id, None)
            self.version += 1
            running.stopped.set()

    def _crashed(self, running: _Running, exc: Exception) -> bool:
        """Record a crash; True when the agent is now quarantined."""
        runtime = running.runtime
        now = trio.current_time()
        running.crashes = [t for t in running.crashes if now - t < CRASH_WINDOW] + [now]
        runtime.stats.last_error = f"{type(exc).__name__}: {exc}"
        runtime.log.error("agent %s crashed", runtime.name, exc_info=exc)
        if len(running.crashes) >= MAX_CRASHES:
            self.quarantined[runtime.agent_id] = runtime.stats.last_error
            runtime.log.error("agent %s quarantined after %d crashes in %.0f s",
                              runtime.name, len(running.crashes), CRASH_WINDOW)
            return True
        return False
