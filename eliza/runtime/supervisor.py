"""The agents running in this worker, each a supervised task in the supervisor's nursery.

A crashing agent is restarted with backoff and quarantined after repeated crashes; it never
affects another agent or the server. Stopping an agent lets its turn in progress finish
within a grace period, then cancels it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from .agent import AgentRuntime

CRASH_WINDOW = 60.0  # seconds
MAX_CRASHES = 5  # within the window, then the agent is quarantined


@dataclass
class Running:
    runtime: AgentRuntime
    cancel_scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    stopped: trio.Event = field(default_factory=trio.Event)
    crashes: list[float] = field(default_factory=list)


class Supervisor:
    """`on_change` is called whenever an agent starts or ends running here."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.running: dict[str, Running] = {}
        # Agents whose loop crashed too often: the last error, until started again.
        self.quarantined: dict[str, str] = {}
        self._on_change = on_change
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Hold the nursery the agents run in, until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def runtime(self, agent_id: str) -> AgentRuntime | None:
        running = self.running.get(agent_id)
        return running.runtime if running else None

    def runtimes(self) -> list[AgentRuntime]:
        return [r.runtime for r in self.running.values()]

    async def launch(self, runtime: AgentRuntime) -> None:
        """Run `runtime` under supervision; returns once its inbox is open."""
        if self._nursery is None:
            raise RuntimeError("the agent registry is not running")
        self.quarantined.pop(runtime.agent_id, None)
        await self._nursery.start(self._supervise, runtime)

    async def stop(self, agent_id: str, grace: float) -> None:
        """Let the agent finish its turn within `grace` seconds, then cancel it."""
        running = self.running.get(agent_id)
        if running is None:
            return
        running.runtime.close_inbox()
        running.cancel_scope.deadline = trio.current_time() + grace
        await running.stopped.wait()
        running.runtime.log.info("agent %s stopped", running.runtime.name)

    async def stop_all(self, grace: float) -> None:
        async with trio.open_nursery() as nursery:
            for agent_id in list(self.running):
                nursery.start_soon(self.stop, agent_id, grace)

    async def _supervise(
        self, runtime: AgentRuntime, *, task_status: trio.TaskStatus[None]
    ) -> None:
        running = Running(runtime)
        self.running[runtime.agent_id] = running
        self._on_change()
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
            self.running.pop(runtime.agent_id, None)
            self._on_change()
            running.stopped.set()

    def _crashed(self, running: Running, exc: Exception) -> bool:
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
