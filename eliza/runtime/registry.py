"""AgentRegistry: every agent's record (cached in memory) and the running ones, each a
supervised task (eliza/runtime/supervisor.py).

In a deployment of several workers (`join_deployment`), the records are the deployment's
(refreshed from the store on every ownership tick and on every `AgentChanged` event), and
where each running agent runs is the ownership's decision (eliza/cluster/ownership.py):
starting, stopping and updating work from any worker and take effect where the agent runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from .. import ids
from ..bus import AgentChanged, MessageBus
from ..clock import now_ms
from ..errors import (
    AgentNotFound,
    Conflict,
    MissingSetting,
    NotFound,
    RunsElsewhere,
    ServiceUnavailable,
)
from ..store import Store
from ..store import agents as q
from .agent import AgentRuntime, TurnHandler
from .character import deep_merge, keep_masked_secrets, validate_character
from .required_settings import SettingsGate, warn
from .supervisor import Supervisor

if TYPE_CHECKING:
    from ..cluster.ownership import Ownership
    from ..security.secrets import SecretBox
    from ..store.agents import AgentRecord
    from ..store.leases import Fence

# Builds the runtime of an agent from its record (character still sealed) and the turn
# handler its inbox feeds.
RuntimeFactory = Callable[["AgentRecord", "TurnHandler | None"], AgentRuntime]

log = logging.getLogger(__name__)

STOP_GRACE = 5.0


def _moving() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The agent is moving to another worker of the deployment; retry in a moment",
        code="AGENT_MOVING", headers={"Retry-After": "1"})


class AgentRegistry:
    """Implements the runtime's `AgentDirectory`. `turn_handler` is what each running
    agent's inbox feeds (None: agents take nothing in, which tests use); `gate` refuses to
    start an agent whose plugins lack a setting they require."""

    def __init__(
        self,
        store: Store,
        secrets: SecretBox,
        build_runtime: RuntimeFactory,
        turn_handler: TurnHandler | None,
        gate: SettingsGate,
    ) -> None:
        self.store = store
        self.gate = gate
        self.secrets = secrets
        self.build_runtime = build_runtime
        self.turn_handler = turn_handler
        self.records: dict[str, AgentRecord] = {}
        self.supervisor = Supervisor(self._changed)
        # (shared with the supervisor: the API shows why an agent is in error)
        self.quarantined = self.supervisor.quarantined
        self._running = self.supervisor.running
        self._lock = trio.Lock()  # lifecycle changes of agents happen one at a time
        # Bumped on every change a listing shows, so cached listings know when to rebuild.
        self.version = 0
        self.placement: Ownership | None = None
        self._bus: MessageBus | None = None

    def join_deployment(self, placement: Ownership, bus: MessageBus) -> None:
        """Share the agents with the other workers: `placement` decides where each runs,
        `bus` tells the others what changed here."""
        self.placement = placement
        self._bus = bus
        placement.registry = self

    def _changed(self) -> None:
        self.version += 1

    def _announce(self, agent_id: str, change: str) -> None:
        if self._bus is not None and self.placement is not None:
            self._bus.publish(AgentChanged(agent_id, change, self.placement.identity.id))

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
        return self.supervisor.runtime(agent_id)

    def require_runtime(self, agent_id: str) -> AgentRuntime:
        """The running agent: 404 AGENT_NOT_FOUND when unknown, 404 AGENT_NOT_RUNNING when
        stopped; RunsElsewhere (the request is carried there) when another worker runs it."""
        self.require_running(agent_id)
        runtime = self.runtime_here(agent_id)
        if runtime is None:
            raise _moving()
        return runtime

    def runtime_here(self, agent_id: str) -> AgentRuntime | None:
        """The agent's runtime in this worker; None when it runs nowhere; RunsElsewhere
        (the request is carried there) when another worker runs it."""
        running = self._running.get(agent_id)
        if running is not None:
            return running.runtime
        where = self.where(agent_id)
        if where is not None:
            raise RunsElsewhere(agent_id, where)
        if self.is_running(agent_id):
            raise _moving()
        return None

    def require_running(self, agent_id: str) -> None:
        """404 AGENT_NOT_FOUND when unknown, 404 AGENT_NOT_RUNNING unless some worker of the
        deployment runs it (the check of the routes that do not need its runtime)."""
        self.get(agent_id)
        if not self.is_running(agent_id):
            raise NotFound("Agent is not running", code="AGENT_NOT_RUNNING")

    def is_running(self, agent_id: str) -> bool:
        """Whether the agent runs on some worker (this one included). In a deployment, an
        agent meant to run counts as running while it moves between workers (handed over,
        or taken over from a worker that died): it answers what it owes on arrival."""
        if agent_id in self._running:
            return True
        if self.placement is None:
            return False
        record = self.records.get(agent_id)
        return record is not None and record.running and record.enabled and (
            (agent_id not in self.quarantined and not self.refused(agent_id))
            or self.where(agent_id) is not None)

    def refused(self, agent_id: str) -> MissingSetting | None:
        """Why the agent, as it is now, was refused a start (a required setting is missing)."""
        record = self.records.get(agent_id)
        return None if record is None else self.gate.refused(agent_id, record.updated_at)

    def _check_settings(self, record: AgentRecord, *, quietly: bool = False) -> None:
        """MissingSetting (logged) when the agent's plugins lack a setting they require."""
        self.gate.check(record.id, record.updated_at,
                        self.secrets.decrypt_character(record.character), quietly=quietly)

    def where(self, agent_id: str) -> str | None:
        """The id of the worker running the agent (None: not running)."""
        if self.placement is not None:
            return self.placement.holder(agent_id)
        return None if agent_id not in self._running else "local"

    def opened_character(self, agent_id: str) -> dict[str, Any]:
        """The agent's character with its secrets opened (from its runtime when it runs
        here, else from its record)."""
        running = self._running.get(agent_id)
        if running is not None:
            return running.runtime.character
        return self.secrets.decrypt_character(self.get(agent_id).character)

    def runtimes(self) -> list[AgentRuntime]:
        return self.supervisor.runtimes()

    def status(self, agent_id: str) -> str:
        if self.is_running(agent_id) and agent_id not in self.quarantined:
            return "active"
        return "error" if agent_id in self.quarantined else "inactive"

    # -- running ----------------------------------------------------------------------------

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
        await self.supervisor.run(task_status=task_status)

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
        run again after a restart, and no others. (In a deployment, ownership places them.)"""
        if self.placement is not None:
            await self.placement.settled()
            return
        for record in list(self.records.values()):
            if record.running and record.enabled:
                try:
                    await self.start(record.id)
                except MissingSetting:
                    continue  # logged; it stays meant to run, so a later restart retries
                except Exception:
                    log.exception("agent %s could not be resumed", record.name)

    async def stop_all(self, grace: float = STOP_GRACE) -> None:
        """Stop every agent (keeping their desired state, so a restart resumes them)."""
        await self.supervisor.stop_all(grace)

    # -- the deployment's view (see eliza/cluster/ownership.py) ---------------------------

    def wanted(self) -> set[str]:
        """The agents that should run somewhere: stored as running, and enabled."""
        return {a for a, r in self.records.items() if r.running and r.enabled}

    def can_run(self, agent_id: str) -> bool:
        """Whether this worker may take the agent: not quarantined here after crashes, and
        not lacking a setting its plugins require."""
        if agent_id not in self.records or agent_id in self.quarantined:
            return False
        try:
            self._check_settings(self.records[agent_id], quietly=True)
        except MissingSetting:
            return False
        return True

    async def refresh(self) -> None:
        """Take in the agents changed by other workers since the last look (one small read;
        whole records only for those that changed). This worker's own changes write the
        store before the cached record, so a look between the two sees no change."""
        stamps = await self.store.read(q.agent_stamps)
        changed = [a for a, stamp in stamps.items() if a not in self.records or stamp != (
            self.records[a].updated_at, self.records[a].running, self.records[a].enabled)]
        for agent_id in [a for a in self.records if a not in stamps]:
            await self.reload(agent_id, "deleted")
        for agent_id in changed:
            await self.reload(agent_id, "updated")

    async def reload(self, agent_id: str, change: str) -> None:
        """Another worker changed the agent: read its record again (a running agent whose
        character changed restarts with it here)."""
        record = await self.store.read(q.get_agent, agent_id)
        old = self.records.get(agent_id)
        if record is None:
            if old is not None:
                await self._stop_runtime(agent_id, STOP_GRACE)
                self.records.pop(agent_id, None)
                self.quarantined.pop(agent_id, None)
                self.gate.forget(agent_id)
                self.version += 1
            return
        self.records[agent_id] = record
        if old is None or (old.updated_at, old.running, old.enabled) != (
                record.updated_at, record.running, record.enabled):
            self.version += 1
        if old is not None and old.updated_at != record.updated_at:
            await self._restart_local(agent_id)

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
        self._announce(agent_id, "created")
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
        if self.is_running(agent_id):
            # It restarts with the change: refused (nothing written) if it could not.
            refusal = self.gate.refusal(agent_id, merged, "runs and could not restart "
                                                          "with this change")
            if refusal is not None:
                warn(agent_id, merged, refusal)
                raise refusal
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
        await self._restart_local(agent_id)
        self._announce(agent_id, "updated")
        if self.placement is not None:
            await self.placement.settled()
        return record

    async def _restart_local(self, agent_id: str) -> None:
        """A running agent takes its changed record in: restarted here, under its lease."""
        running = self._running.get(agent_id)
        if running is None:
            return
        fence = running.runtime.fence
        await self._stop_runtime(agent_id, STOP_GRACE)
        try:
            await self.start_local(agent_id, fence)
        except MissingSetting:
            return  # logged; in a deployment its lease is released on the next tick

    async def delete(self, agent_id: str) -> None:
        self.get(agent_id)
        if agent_id in self._running:
            await self.stop(agent_id)
        async with self._lock:
            await self.store.write(q.delete_agent, agent_id)
            self.records.pop(agent_id, None)
            self.version += 1
            self.quarantined.pop(agent_id, None)
            self.gate.forget(agent_id)
        self._announce(agent_id, "deleted")

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, agent_id: str) -> AgentRuntime | None:
        """Run the agent (and remember it runs). Its runtime when it runs here; None when
        another worker of the deployment runs it."""
        record = self.get(agent_id)
        if self.placement is not None:
            if self.where(agent_id) is None:  # (one running elsewhere may stay so)
                self._check_settings(record)  # before its desired state says running
            if not record.running:
                await self.store.write(q.set_running, agent_id, True)
                self.get(agent_id).running = True  # after the write (see `refresh`)
            self.quarantined.pop(agent_id, None)
            await self.placement.place(agent_id)
            self._announce(agent_id, "started")
            return self.runtime(agent_id)
        return await self.start_local(agent_id, None, remember=True)

    async def start_local(self, agent_id: str, fence: Fence | None, *,
                          remember: bool = False) -> AgentRuntime:
        """Run the agent in this worker (under `fence`, the lease it took, in a deployment)."""
        record = self.get(agent_id)
        async with self._lock:
            running = self._running.get(agent_id)
            if running is not None and running.runtime.stopping:
                # Being stopped (its lease was lost, or it was handed over) and taken again
                # at once: a new runtime, under the new lease, once the old one is gone.
                await running.stopped.wait()
                running = None
            if running is not None:
                if fence is not None:
                    running.runtime.fence = fence  # the same worker took its lease again
                return running.runtime
            self._check_settings(record)
            runtime = self.build_runtime(record, self.turn_handler)
            runtime.fence = fence
            await self.supervisor.launch(runtime)
            if remember and not record.running:
                await self.store.write(q.set_running, agent_id, True)
                record.running = True
        runtime.log.info("agent %s started", runtime.name)
        return runtime

    async def stop(self, agent_id: str, *, remember: bool = True) -> None:
        """Stop a running agent; with `remember`, it stays stopped across restarts."""
        record = self.get(agent_id)
        if self.placement is not None:
            if record.running:
                await self.store.write(q.set_running, agent_id, False)
                self.get(agent_id).running = False  # after the write (see `refresh`)
            await self.placement.stop_here(agent_id)
            self._announce(agent_id, "stopped")
            # The worker running it stops it between two turns; answer once it has.
            with trio.move_on_after(STOP_GRACE + 2 * self.placement.interval + 1):
                while self.where(agent_id) is not None:
                    await self.placement.settled()
            return
        await self._stop_runtime(agent_id, STOP_GRACE)
        if remember and record.running:
            await self.store.write(q.set_running, agent_id, False)
            record.running = False

    async def stop_local(self, agent_id: str, grace: float) -> None:
        """Stop the agent's runtime in this worker (its desired state unchanged)."""
        await self._stop_runtime(agent_id, grace)

    async def _stop_runtime(self, agent_id: str, grace: float) -> None:
        await self.supervisor.stop(agent_id, grace)
