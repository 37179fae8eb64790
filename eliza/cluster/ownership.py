"""Ownership: each running agent runs in exactly one worker of the deployment.

Every worker holds a lease on itself (`worker:<id>`, its heartbeat) and one per agent it runs
(`agent:<id>`), and renews them all in one statement every third of a lease. Each tick it
also reads every lease, so it knows which workers are alive and where each agent runs, and:

- stops at once an agent whose lease it lost (it paused or was cut off past the lease; its
  turn's reply would be refused by the epoch check anyway);
- stops, between two turns, an agent that should no longer run (stopped from any worker);
- takes free agents that should run (their owner died, paused or handed them over) up to its
  fair share, and any agent left free for longer than a tick, whatever its share;
- hands one agent over when it holds more than its fair share and another worker holds
  less (a worker joined): the agent finishes its turn, its lease is released, and the
  worker below its share takes it on the release event, so no message waits more than a
  turn for it.

A taken agent first answers what it owes (the owed list in the store), so nothing is lost
in a handover or a takeover. Ticks also run at once on the deployment's events (an agent
changed, a lease released, a worker joined).
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import TYPE_CHECKING

import trio

from ..bus import AgentChanged, LeaseReleased, MessageBus, Subscription, WorkerJoined
from ..errors import DatabaseUnavailable
from ..store import Store
from ..store import leases as lq
from .identity import WorkerIdentity

if TYPE_CHECKING:
    from ..runtime.registry import AgentRegistry

log = logging.getLogger(__name__)

AGENT = "agent:"
WORKER = "worker:"
HANDOVER_GRACE = 5.0  # seconds a handed-over agent has to finish its turn


class Ownership:
    _EVENTS = frozenset({AgentChanged.name, LeaseReleased.name, WorkerJoined.name})
    def __init__(self, store: Store, bus: MessageBus, identity: WorkerIdentity,
                 lease_seconds: float) -> None:
        self.store = store
        self.bus = bus
        self.identity = identity
        self.ttl_ms = int(lease_seconds * 1000)
        self.interval = lease_seconds / 3
        self.registry: AgentRegistry | None = None
        self.fences: dict[str, lq.Fence] = {}  # agent id -> the lease this worker runs it under
        self.jobs: dict[str, lq.Fence] = {}  # periodic jobs this worker runs for all
        self.holders: dict[str, str] = {}  # agent id -> the worker running it (live leases)
        self.workers: set[str] = {identity.id}  # live workers
        self._free_since: dict[str, int] = {}  # agent id -> ticks seen free
        self._wake = trio.Event()
        self._ticks_started = 0
        self._ticks_done = 0
        self._ticked = trio.Event()
        self._handing_over: set[str] = set()
        self._closing = False
        # Placement changes (a tick's, an API call's) happen one at a time; renewing never
        # waits for them, so a slow handover cannot cost this worker its other leases.
        self._placing = trio.Lock()

    # -- what the rest of the server asks ------------------------------------------------

    def holder(self, agent_id: str) -> str | None:
        """The worker running the agent now (this one included), or None."""
        if agent_id in self.fences:
            return self.identity.id
        return self.holders.get(agent_id)

    def wake(self) -> None:
        self._wake.set()

    async def settled(self) -> None:
        """Wait for a tick that started after this call to complete (an API call that
        changed an agent's desired state answers once this worker acted on it)."""
        target = self._ticks_started + 1
        self.wake()
        while self._ticks_done < target:
            await self._ticked.wait()

    async def hold_job(self, job: str) -> bool:
        """Whether this worker runs `job` (a periodic job run once per deployment): it
        keeps the job's lease while it lives (renewed with its others), and another worker
        takes it over when it dies."""
        held = self.jobs.get(job)
        if held is not None:
            try:  # still its own? (a worker that was paused may have lost it meanwhile)
                await self.store.read(held.check)
                return True
            except lq.LeaseLost:
                self.jobs.pop(job, None)
        if self._closing:
            return False
        fence = await self.store.write(lq.acquire, lq.job_lease(job), self.identity.id,
                                       self.ttl_ms)
        if fence is not None:
            self.jobs[job] = fence
            log.info("this worker (%s) runs the %s for the deployment", self.identity.id, job)
        return fence is not None

    def alone(self) -> bool:
        """Whether this is the only live worker of the deployment."""
        return self.workers == {self.identity.id}

    async def place(self, agent_id: str) -> bool:
        """Run the agent here now if no worker runs it; True when it runs here."""
        if agent_id in self.fences:
            return True
        async with self._placing:
            if agent_id in self.fences:
                return True
            if self.holders.get(agent_id) is not None:
                return False
            return await self._take(agent_id)

    # -- the loop -----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        self.bus.on_gap(self._after_gap)
        with self.bus.subscribe("ownership", self._EVENTS, capacity=256) as events:
            await self.store.write(lq.acquire, WORKER + self.identity.id, self.identity.id,
                                   self.ttl_ms)
            await self.tick()
            self.bus.publish(WorkerJoined(self.identity.id))
            task_status.started()
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._wake_on, events)
                    nursery.start_soon(self._renew_forever)
                    while True:
                        with trio.move_on_after(self.interval):
                            await self._wake.wait()
                        self._wake = trio.Event()
                        with contextlib.suppress(DatabaseUnavailable):
                            await self.tick()
            finally:
                with trio.CancelScope(shield=True):
                    await self.close()

    async def _wake_on(self, events: Subscription) -> None:
        while True:
            with events:  # each subscription closed when replaced or cancelled
                async for event in events:
                    if (isinstance(event, AgentChanged) and self.registry is not None
                            and event.worker_id != self.identity.id):  # its own: known here
                        await self.registry.reload(event.agent_id, event.change)
                    self._wake.set()
            # Fell behind (or the bus had a gap): the next tick reads the store anyway.
            events = self.bus.subscribe("ownership", self._EVENTS, capacity=256)
            self._wake.set()

    async def _after_gap(self, since_ms: int) -> None:
        self.wake()  # what changed meanwhile is in the store: look now

    async def _renew_forever(self) -> None:
        while True:
            await trio.sleep(self.interval)
            # The store reports an outage once; the leases run out meanwhile, and what this
            # worker lost when it is back is stopped here and taken by whoever is up.
            with contextlib.suppress(DatabaseUnavailable):
                await self.renew()

    async def renew(self) -> None:
        """Extend this worker's leases; an agent whose lease was lost stops here at once."""
        registry = self.registry
        assert registry is not None
        # Only the leases held before the renewal can be judged by it: one taken while it
        # ran is not in its answer, and is not lost.
        agents_before, jobs_before = dict(self.fences), dict(self.jobs)
        held = await self.store.write(lq.renew, self.identity.id, self.ttl_ms)
        if WORKER + self.identity.id not in held and not self._closing:
            await self.store.write(lq.acquire, WORKER + self.identity.id, self.identity.id,
                                   self.ttl_ms)
        for job, fence in jobs_before.items():
            if held.get(fence.lease) != fence.epoch and self.jobs.get(job) is fence:
                self.jobs.pop(job, None)
        for agent_id, fence in agents_before.items():
            if held.get(fence.lease) != fence.epoch and self.fences.get(agent_id) is fence:
                log.error("lost the lease of agent %s (this worker paused or was cut off "
                          "past it); it stops here and runs elsewhere", agent_id)
                self.fences.pop(agent_id, None)
                await registry.stop_local(agent_id, grace=0)

    async def tick(self) -> None:
        """Look at every lease, take in the agents' changes, and place the agents."""
        registry = self.registry
        assert registry is not None
        self._ticks_started += 1
        try:
            async with self._placing:
                await self._look_and_place(registry)
        finally:
            self._ticks_done += 1  # failed or not: nobody waits for it forever
            ticked, self._ticked = self._ticked, trio.Event()
            ticked.set()

    async def _look_and_place(self, registry: AgentRegistry) -> None:
        table = await self.store.read(lq.holdings, "")
        self.workers = {h.holder for name, h in table.items()
                        if name.startswith(WORKER) and h.live} | {self.identity.id}
        holders = {name[len(AGENT):]: h.holder for name, h in table.items()
                   if name.startswith(AGENT) and h.live}
        # A live lease of this worker for an agent it does not run (left by a failure between
        # taking and starting): give it up, so the agent does not wait for nobody.
        for agent_id, holder in list(holders.items()):
            if holder == self.identity.id and agent_id not in self.fences:
                held = table[AGENT + agent_id]
                await self.store.write(lq.release, lq.Fence(held.lease, holder, held.epoch))
                del holders[agent_id]
        holders, self.holders = self.holders, holders
        if holders != self.holders:
            registry.version += 1  # listings show where agents run
        await registry.refresh()
        if not self._closing:
            await self._place(registry)

    async def _place(self, registry: AgentRegistry) -> None:
        wanted = registry.wanted()
        for agent_id in [a for a in self.fences if a not in wanted]:
            await self._give_up(agent_id, HANDOVER_GRACE, "stopped")
        for agent_id in [a for a in self.fences if registry.runtime(a) is None]:
            # Quarantined here after repeated crashes: another worker may fare better.
            await self._release(agent_id)
        fair = math.ceil(len(wanted) / max(1, len(self.workers)))
        free = sorted(a for a in wanted if a not in self.holders and a not in self.fences)
        self._free_since = {a: self._free_since.get(a, 0) + 1 for a in free}
        for agent_id in free:
            if len(self.fences) < fair or self._free_since[agent_id] > 1:
                await self._take(agent_id)
        if len(self.fences) > fair and not self._handing_over:
            counts = {w: 0 for w in self.workers if w != self.identity.id}
            for holder in self.holders.values():
                if holder in counts:
                    counts[holder] += 1
            if any(n < fair for n in counts.values()):
                # One at a time: the worker below its share takes it on the release event.
                agent_id = max(self.fences, key=lambda a: self.fences[a].epoch)
                self._handing_over.add(agent_id)
                try:
                    await self._give_up(agent_id, HANDOVER_GRACE, "handed over")
                finally:
                    self._handing_over.discard(agent_id)

    async def _take(self, agent_id: str) -> bool:
        registry = self.registry
        assert registry is not None
        if not registry.can_run(agent_id):
            return False
        fence = await self.store.write(lq.acquire, AGENT + agent_id, self.identity.id,
                                       self.ttl_ms)
        if fence is None:
            return False
        self.holders[agent_id] = self.identity.id
        self._free_since.pop(agent_id, None)
        try:
            await registry.start_local(agent_id, fence)
        except Exception:
            log.exception("agent %s could not start here; its lease is released", agent_id)
            self.fences[agent_id] = fence
            await self._release(agent_id)
            return False
        self.fences[agent_id] = fence
        return True

    async def stop_here(self, agent_id: str) -> None:
        """Stop the agent here between two turns and release its lease (it was stopped)."""
        async with self._placing:
            if agent_id in self.fences:
                await self._give_up(agent_id, HANDOVER_GRACE, "stopped")

    async def _give_up(self, agent_id: str, grace: float, why: str) -> None:
        registry = self.registry
        assert registry is not None
        await registry.stop_local(agent_id, grace=grace)
        await self._release(agent_id)
        log.info("agent %s %s (worker %s)", agent_id, why, self.identity.id)

    async def _release(self, agent_id: str) -> None:
        fence = self.fences.pop(agent_id, None)
        self.holders.pop(agent_id, None)
        if fence is not None and await self.store.write(lq.release, fence):
            self.bus.publish(LeaseReleased(fence.lease, self.identity.id))

    async def close(self) -> None:
        """Shutting down: agents finish their turn, then every lease is released at once so
        the other workers take them without waiting for expiry."""
        if self._closing:
            return
        self._closing = True
        registry = self.registry
        if registry is not None:
            with trio.move_on_after(HANDOVER_GRACE + 1):
                await registry.stop_all(HANDOVER_GRACE)
        released = self.fences
        self.fences = {}
        with trio.move_on_after(5), contextlib.suppress(DatabaseUnavailable):
            await self.store.write(lq.release_all, self.identity.id)
            for fence in released.values():
                self.bus.publish(LeaseReleased(fence.lease, self.identity.id))
