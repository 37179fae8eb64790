"""AgentServer: the one wiring point. It builds every part and hands each one what it uses
(constructor injection), owns the plugin manager, and runs the long-lived parts inside its
own nursery. No other module of the core knows all the parts."""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import IO, Any

import pluggy
import trio

from .bus import MessageBus, bus_for
from .cluster.identity import WorkerIdentity
from .cluster.logs import LogRelay
from .cluster.ownership import Ownership
from .cluster.workers import WorkerDirectory
from .errors import StartupError
from .jobs import JobService
from .log_feed import LogFeed
from .logs import LogBuffer
from .media.uploads import PARTIAL_UPLOAD_MAX_AGE, sweep_partial_uploads
from .memory import ActivityService, MemoryService
from .messaging import MessagingService
from .plugin_api import Panel, Route
from .plugin_host import BusListenerHost, describe_plugins
from .plugins import await_me_maybe, call_each, is_builtin, make_plugin_manager, plugin_name_for
from .realtime.hub import RealtimeHub
from .runtime.agent import AgentRuntime, TurnHandler
from .runtime.models import ModelProvider, ModelRegistry, ModelType
from .runtime.pipeline import handle_event
from .runtime.registry import AgentRegistry
from .runtime.required_settings import SettingsGate
from .security.rate_sync import RateSync
from .security.secrets import SecretBox, check_salt
from .sessions import SessionService, run_session_sweeper
from .settings import Settings
from .store import Store, core_migrations, store_for
from .store.agents import AgentRecord, get_meta, set_meta

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0

DEFAULT_CHARACTER: dict[str, Any] = {
    "name": "Eliza",
    "username": "eliza",
    "bio": [
        "A Rogerian psychotherapist in the manner of Joseph Weizenbaum's ELIZA (1966).",
        "Runs on the built-in ELIZA model, so it needs no API key.",
    ],
    "system": "You are ELIZA, a Rogerian psychotherapist. Reflect the user's words back.",
    "topics": ["feelings", "family", "dreams"],
    "adjectives": ["patient", "curious", "reflective"],
    "plugins": [],
    "settings": {},
    "style": {"all": ["ask open questions", "reflect the user's statements"]},
}


class DataDirLocked(StartupError):
    """Another process already serves this data directory."""


class AgentServer:
    def __init__(self, settings: Settings, pm: pluggy.PluginManager | None = None) -> None:
        self.settings = settings
        self.pm = pm or make_plugin_manager(
            allow=settings.load_plugins, trace=settings.trace_plugins
        )
        self.worker = WorkerIdentity.new()
        self.store: Store = store_for(settings)
        # In-process, or shared by the workers of a deployment (ELIZA_BUS).
        self.bus: MessageBus = bus_for(settings, self.worker.id)
        # (at the configured level: libraries' loggers with their own level, such as
        # hypercorn's, propagate records the root's level would not let through)
        self.logs = LogBuffer(level=settings.log_level)
        self.log_feed = LogFeed(self.logs)  # the SSE log streams
        self.secrets = SecretBox(settings.data_dir, settings.secret_salt)
        # Counts the rate limits with the other workers (eliza/security/ratelimit.py).
        self.rate_sync = (RateSync(self.store, self.worker.id) if settings.cluster.shared
                          else None)
        # Refuses to start an agent whose plugins lack a setting they require.
        self.settings_gate = SettingsGate(self.enabled_plugins)
        self.agents = AgentRegistry(self.store, self.secrets, self.build_runtime, handle_event,
                                    self.settings_gate)
        # Several workers share the agents: each running agent runs in the one holding its
        # lease (None: one process runs them all).
        self.ownership: Ownership | None = None
        if settings.cluster.shared:
            self.ownership = Ownership(self.store, self.bus, self.worker,
                                       settings.cluster.lease_seconds)
            self.agents.join_deployment(self.ownership, self.bus)
        # The one way messages enter: one stored message, one bus event.
        self.messaging = MessagingService(self.store, self.bus, settings, self.agents)
        self.memory = MemoryService(self.store, self.agents)
        self.activity = ActivityService(self.store, self.agents)
        self.sessions = SessionService(self.store, self.bus, self.messaging, self.agents,
                                       settings)
        # One-off messages to an agent, finished by its reply (the Jobs API).
        self.jobs = JobService(self.store, self.bus, self.messaging, self.agents)
        self.realtime = RealtimeHub(self.bus, self.messaging, settings, self.logs)
        self.listeners = BusListenerHost(self.bus)
        # What the plugins contribute, by plugin name (filled when the server starts).
        self.routes: dict[str, list[Route]] = {}
        self.panels: dict[str, list[Panel]] = {}
        self.model_providers: dict[str, list[ModelProvider]] = {}
        self._plugin_rows: list[dict[str, Any]] | None = None
        self.started_at = time.time()
        self.ready = trio.Event()
        self.stopped = trio.Event()
        # Set as soon as a stop is asked for: the app refuses every new request from then on
        # (503) while the ones in flight finish within the grace period.
        self.stopping = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._stop_requested = trio.Event()
        # How `POST /api/server/stop` ends the process; `eliza serve` and the app set it.
        self.shutdown_callback: Callable[[], None] = _signal_own_process
        self._lock_file: IO[str] | None = None
        # Where the other workers of a deployment are (idle on one process).
        self.workers = WorkerDirectory(self.store, self.worker, settings.cluster)

    @property
    def turn_handler(self) -> TurnHandler | None:
        """What each running agent does with the events of its inbox."""
        return self.agents.turn_handler

    @property
    def nursery(self) -> trio.Nursery:
        if self._nursery is None:
            raise RuntimeError("the server is not running")
        return self._nursery

    async def plugin_listing(self) -> list[dict[str, Any]]:
        """`describe_plugins` of this server's manager: computed in a worker thread the
        first time (reading the installed distributions takes hundreds of ms) and kept,
        since a server's plugins never change; each caller gets its own copy of the rows."""
        if self._plugin_rows is None:
            self._plugin_rows = await trio.to_thread.run_sync(describe_plugins, self.pm)
        return [{**row, "hooks": list(row["hooks"])} for row in self._plugin_rows]

    def plugin_names(self) -> list[str]:
        """Installed plugins by name (entry-point names, then the built-in modules)."""
        return [name for name, _ in self.pm.list_name_plugin() if name is not None]

    # -- running ----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open everything, start the agents, report started; on cancellation stop the
        agents within the grace period and close the store."""
        # SQLite serves one process: its data directory is locked. On PostgreSQL the workers
        # of a deployment share theirs (uploads, the salt file).
        exclusive = self.store.dialect == "sqlite"
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)  # .env, uploads, salt
        if exclusive:
            self._lock_data_dir()
        self.secrets.open()
        # Partial uploads of a killed run: all of them under the lock (no other server
        # writes there); otherwise only those too old to be another server's in progress.
        await trio.to_thread.run_sync(partial(
            sweep_partial_uploads, self.settings.uploads_agents_dir,
            self.settings.uploads_channels_dir,
            older_than=0.0 if exclusive else PARTIAL_UPLOAD_MAX_AGE))
        root = logging.getLogger()
        root.addHandler(self.logs)
        try:
            await self.store.open([core_migrations, *self._plugin_migrations()])
            await check_salt(self.secrets, self.store)
            await self._collect_plugin_contributions()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.bus.run)  # before anything subscribes
                await nursery.start(self.agents.run)
                if self.ownership is not None:
                    await nursery.start(self.ownership.run)
                await nursery.start(self.listeners.run)
                await nursery.start(partial(run_session_sweeper, self.sessions,
                                            deployment=self.ownership))
                await nursery.start(partial(self.jobs.run, deployment=self.ownership))
                if self.ownership is not None:
                    await nursery.start(LogRelay(self.logs, self.bus, self.worker.id).run)
                await nursery.start(self.realtime.run)
                await nursery.start(self.log_feed.run)
                if self.rate_sync is not None:
                    await nursery.start(self.rate_sync.run)
                await nursery.start(self.workers.run)
                for _, result in call_each(self.pm, "startup", server=self):
                    await await_me_maybe(result)
                await self._ensure_default_agent()
                await self.agents.resume()
                self.ready.set()
                task_status.started()
                try:
                    await self._stop_requested.wait()
                finally:
                    with trio.CancelScope(shield=True):
                        await self._shutdown()
                    nursery.cancel_scope.cancel()
        finally:
            root.removeHandler(self.logs)
            self.store.close()
            self._unlock_data_dir()
            self.stopped.set()

    def begin_drain(self) -> None:
        """The process is about to stop taking requests: end the open streams now, so their
        clients see a clean end instead of a connection cut at the graceful timeout."""
        self.log_feed.close()

    async def drain_when(self, stopping: trio.Event) -> None:
        """hypercorn's `shutdown_trigger`: wait for `stopping`, then drain."""
        await stopping.wait()
        self.begin_drain()

    async def _shutdown(self) -> None:
        self.begin_drain()
        with trio.move_on_after(SHUTDOWN_GRACE + 1):
            if self.ownership is not None:
                await self.ownership.close()  # the others take its agents over at once
            await self.agents.stop_all(SHUTDOWN_GRACE)
        # Each plugin's hook on its own, so one failure does not stop the others'.
        for plugin, result in call_each(self.pm, "shutdown", server=self,
                                        errors="log"):
            try:
                with trio.move_on_after(SHUTDOWN_GRACE):
                    await await_me_maybe(result)
            except Exception:
                log.exception("shutdown hook of plugin %s failed", plugin)

    async def _ensure_default_agent(self) -> None:
        if not self.settings.default_agent:
            return
        if await self.store.read(get_meta, "default_agent_created"):
            if not self.agents.records:
                # A server starting at the same moment on the same database created it
                # after this one loaded its agents: list (and resume) it here too.
                await self.agents.adopt_stored()
            return
        if not self.agents.records:
            record, _ = await self.agents.create(DEFAULT_CHARACTER)
            await self.agents.start(record.id)
        await self.store.write(set_meta, "default_agent_created", "1")

    def request_shutdown(self) -> None:
        """Stop the whole process gracefully, shortly after the current response is sent;
        new requests are refused from now on."""
        self.stopping.set()
        self.nursery.start_soon(self._shutdown_soon)

    async def _shutdown_soon(self) -> None:
        await trio.sleep(0.2)
        log.warning("shutdown requested through the API")
        self.shutdown_callback()

    async def aclose(self) -> None:
        """Stop the server (agents get the grace period) and wait until it has stopped."""
        self.stopping.set()
        self._stop_requested.set()
        await self.stopped.wait()

    # -- plugins ----------------------------------------------------------------------

    def _plugin_migrations(self) -> list[Any]:
        sets: list[Any] = []
        for result in self.pm.hook.register_migrations(server=self):
            sets.extend(result or [])
        return sets

    async def _collect_plugin_contributions(self) -> None:
        for plugin, result in call_each(self.pm, "register_models", server=self):
            self.model_providers[plugin] = _providers(await await_me_maybe(result), plugin)
        for plugin, result in call_each(self.pm, "register_routes", server=self):
            self.routes[plugin] = list(await await_me_maybe(result) or [])
        for plugin, result in call_each(self.pm, "register_panels", server=self):
            self.panels[plugin] = list(await await_me_maybe(result) or [])
        for plugin, result in call_each(self.pm, "register_bus_listeners", server=self):
            self.listeners.listeners[plugin] = list(await await_me_maybe(result) or [])
        for plugin, result in call_each(self.pm, "required_settings", server=self):
            self.settings_gate.required[plugin] = list(await await_me_maybe(result) or [])

    def enabled_plugins(self, character: Mapping[str, Any]) -> frozenset[str]:
        """Installed plugins a character enables (unknown references are reported)."""
        installed = [n for n in self.plugin_names() if not is_builtin(n)]
        enabled = set()
        for reference in character.get("plugins") or []:
            name = plugin_name_for(str(reference), installed)
            if name is None:
                log.info("character %s names plugin %r, which is not installed here; ignored",
                         character.get("name"), reference)
            else:
                enabled.add(name)
        return frozenset(enabled)

    def build_runtime(self, record: AgentRecord, turn_handler: TurnHandler | None
                      ) -> AgentRuntime:
        """The runtime of an agent: its opened character, the models of the plugins it
        enables (and the built-in ones), and the parts its turns use."""
        character = self.secrets.decrypt_character(record.character)
        enabled = self.enabled_plugins(character)
        providers = [
            provider
            for plugin, offered in self.model_providers.items()
            if is_builtin(plugin) or plugin in enabled
            for provider in offered
        ]
        return AgentRuntime(
            record.id, character, ModelRegistry(providers), enabled, store=self.store,
            bus=self.bus, replies=self.messaging, agents=self.agents, settings=self.settings,
            turn_handler=turn_handler,
        )

    # -- one process per data directory -----------------------------------------------------

    def _lock_data_dir(self) -> None:
        data_dir: Path = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = open(data_dir / "server.lock", "a+")  # noqa: SIM115 - held for the server's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise DataDirLocked(
                f"another eliza server already uses {data_dir} (one process per data directory; "
                "run hypercorn with one worker, or give this server its own ELIZA_DATA_DIR)"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock_file = lock

    def _unlock_data_dir(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None


def _providers(result: Any, plugin: str) -> list[ModelProvider]:
    if not result:
        return []
    if isinstance(result, Mapping):
        return [ModelProvider(ModelType(t), h, plugin=plugin) for t, h in result.items()]
    return [
        ModelProvider(p.model_type, p.handler, p.priority, plugin, p.voices) for p in result
    ]


def _signal_own_process() -> None:
    # Under hypercorn with workers, the master handles SIGTERM and tells the workers; a
    # worker that signals itself would die without cleanup.
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None and os.getppid() == parent.pid:
        os.kill(parent.pid, signal.SIGTERM)
    else:
        os.kill(os.getpid(), signal.SIGINT)
