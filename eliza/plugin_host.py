"""The host side of plugins: supervised bus listeners and the installed-plugin listing.

`BusListenerHost.run` runs every :class:`~eliza.BusListener` the plugins registered
(`host.listeners`, filled at start-up) as its own task in one nursery, each fed by its own
bounded bus subscription. A plugin's handler is plugin code, so it is contained: an
exception is logged with its traceback and the listener goes on with the next event; a
handler that hangs is cut off by a deadline. If the loop itself dies it is restarted with
backoff. A listener that falls `capacity` events behind is cut off by the bus (see
`eliza.bus`); it re-subscribes at once and logs the loss, instead of stalling the bus.

`describe_plugins(pm)` backs `GET /api/plugins` and `eliza plugins`.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pluggy
import trio

from .bus import EVENT_NAMES, Event, MessageBus, Subscription
from .plugin_api import BusListener
from .plugins import is_builtin, make_plugin_manager, plugin_distribution

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)

LISTENER_CAPACITY = 256  # events buffered per listener before the bus cuts it off
HANDLER_TIMEOUT = 30.0  # seconds one handler call may take
BACKOFF_MIN = 0.1
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 60.0  # a loop that ran this long without dying resets its backoff


@dataclass
class ListenerStats:
    """What one listener has done; `GET /api/plugins` shows it."""

    plugin: str
    name: str
    events: list[str]
    received: int = 0
    failures: int = 0
    timeouts: int = 0
    restarts: int = 0
    resubscribes: int = 0
    lost_at_least: int = 0
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BusListenerHost:
    """The plugins' bus listeners of one server."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        # By plugin name; the server fills it from `register_bus_listeners` at start-up.
        self.listeners: dict[str, list[BusListener]] = {}
        self.stats: list[ListenerStats] = []
        self.running = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Run every registered bus listener until cancelled.

        Reports started once every listener is subscribed, so no event published after
        `await nursery.start(host.run)` returns is missed. A second `run` of the same host
        is refused instead of doubling deliveries.
        """
        if self.running:
            raise RuntimeError("the bus listeners already run")
        self.running = True
        self.stats = []
        try:
            async with trio.open_nursery() as nursery:
                for plugin, listeners in self.listeners.items():
                    for index, listener in enumerate(listeners):
                        stats = self._stats_for(plugin, index, listener)
                        if stats is not None:
                            self.stats.append(stats)
                            await nursery.start(self._supervise, listener, stats)
                task_status.started()
                await trio.sleep_forever()
        finally:
            self.running = False

    @staticmethod
    def _stats_for(plugin: str, index: int, listener: BusListener) -> ListenerStats | None:
        events = sorted(set(listener.events))
        unknown = set(events) - EVENT_NAMES
        name = listener.name or f"{plugin}:{index}"
        if unknown or not events:
            # A configuration error: retrying can never succeed, so say it once.
            log.error("bus listener %s of plugin %s names unknown events %s; it does not run "
                      "(known: %s)", name, plugin, sorted(unknown) or "(none)",
                      sorted(EVENT_NAMES))
            return None
        return ListenerStats(plugin, name, events)

    async def _supervise(
        self,
        listener: BusListener,
        stats: ListenerStats,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        backoff = BACKOFF_MIN
        sub = self._subscribe(stats)
        task_status.started()
        while True:
            began = trio.current_time()
            try:
                sub = await self._consume(listener, stats, sub)
                continue  # a clean return means "re-subscribed after an overflow"
            except Exception as exc:
                # Only the host's own loop can get here (handler errors are caught in
                # `_deliver`); it is restarted, never allowed to take the server down.
                stats.restarts += 1
                stats.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("bus listener %s of plugin %s died; restarting in %.1f s",
                              stats.name, stats.plugin, backoff)
            sub.close()
            if trio.current_time() - began > HEALTHY_AFTER:
                backoff = BACKOFF_MIN
            await trio.sleep(backoff)
            backoff = min(BACKOFF_MAX, backoff * 2)
            sub = self._subscribe(stats)

    def _subscribe(self, stats: ListenerStats) -> Subscription:
        return self.bus.subscribe(f"plugin:{stats.plugin}:{stats.name}", stats.events,
                                  capacity=LISTENER_CAPACITY)

    async def _consume(
        self, listener: BusListener, stats: ListenerStats, sub: Subscription
    ) -> Subscription:
        """Deliver events until the subscription overflows; return its replacement."""
        replacement: Subscription | None = None
        published_when_healthy = self.bus.published
        try:
            with sub:
                async for event in sub:
                    await _deliver(listener, stats, event)
                    if sub.overflowed and replacement is None:
                        # Re-subscribe before draining the rest of the old buffer, so the
                        # window in which events go nowhere is as short as it can be.
                        replacement = self._subscribe(stats)
                        missed = self.bus.published - published_when_healthy
                        stats.resubscribes += 1
                        stats.lost_at_least += 1
                        log.warning(
                            "bus listener %s of plugin %s fell %d events behind and was cut "
                            "off: at least 1 event lost (%d bus events were published "
                            "meanwhile, not all of them for it); re-subscribed", stats.name,
                            stats.plugin, LISTENER_CAPACITY, missed)
                    elif not sub.overflowed:
                        published_when_healthy = self.bus.published
        except BaseException:
            if replacement is not None:
                replacement.close()  # never leave a subscription nobody drains
            raise
        if replacement is None:
            # Closed by someone else without an overflow: treat it as a crash, so the
            # restart goes through the backoff instead of spinning.
            raise RuntimeError("the bus closed the subscription")
        return replacement


async def _deliver(listener: BusListener, stats: ListenerStats, event: Event) -> None:
    stats.received += 1
    try:
        with trio.fail_after(HANDLER_TIMEOUT):
            await listener.handler(event)
    except trio.TooSlowError:
        stats.timeouts += 1
        stats.last_error = f"handler took over {HANDLER_TIMEOUT} s on {event.name}"
        log.error("bus listener %s of plugin %s: %s", stats.name, stats.plugin,
                  stats.last_error)
    except Exception as exc:
        stats.failures += 1
        stats.last_error = f"{type(exc).__name__}: {exc}"
        log.exception("bus listener %s of plugin %s failed on %s", stats.name, stats.plugin,
                      event.name)


# -- the installed-plugin listing ---------------------------------------------------------


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Every registered plugin: name, distribution and version, hooks implemented, builtin.
    Blocking (it reads the installed distributions): the server calls it in a worker
    thread, once (`AgentServer.plugin_listing`)."""
    from importlib import metadata  # only this listing needs it

    packages = metadata.packages_distributions()
    rows = []
    for name, plugin in pm.list_name_plugin():
        distribution, version = plugin_distribution(plugin, packages)
        callers = pm.get_hookcallers(plugin) or []
        rows.append({
            "name": name,
            "version": version,
            "distribution": distribution,
            "hooks": sorted(caller.name for caller in callers),
            "builtin": is_builtin(name),
        })
    rows.sort(key=lambda row: (not row["builtin"], row["name"]))
    return rows


def print_plugins(settings: Settings, *, as_json: bool = False) -> int:
    """`eliza plugins`: what a server started now would load, without starting one."""
    pm = make_plugin_manager(allow=settings.load_plugins)
    rows = describe_plugins(pm)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max([len(row["name"]) for row in rows] + [4])
    for row in rows:
        kind = "builtin" if row["builtin"] else (row["distribution"] or "-")
        print(f"{row['name']:<{width}}  {row['version'] or '-':<8}  {kind}  "
              f"{', '.join(row['hooks']) or '(no hooks)'}", file=sys.stdout)
    return 0


__all__ = [
    "BusListenerHost",
    "ListenerStats",
    "describe_plugins",
    "print_plugins",
]
