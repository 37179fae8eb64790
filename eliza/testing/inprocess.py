"""The app in the test's process: settings on a throw-away data directory, a server with
in-process plugins, and the app's lifespan around an `async with` block. The server and
Quart are imported when called, never at import (see the package's docstring)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quart import Quart
    from quart.typing import TestAppProtocol, TestClientProtocol

    from eliza.server import AgentServer
    from eliza.settings import Settings

# Quart-Trio's default (`None`) cancels the lifespan task itself, so the server's shutdown
# never completes (the test app then times out with a corrupted nursery stack); a deadline
# lets the server stop its agents gracefully.
BACKGROUND_TASK_SHUTDOWN_TIMEOUT = 10

# Tests start from a quiet server: no request limits, no built-in "Eliza" agent.
DEFAULT_ENV = {"ELIZA_RATE_LIMIT": "off", "ELIZA_DEFAULT_AGENT": "false"}

PluginSpec = tuple[str, object]


def make_settings(directory: Path, **env: str) -> Settings:
    """Settings for a server whose data lives in `directory/.eliza`; `env` adds or overrides
    settings (`ELIZA_LOAD_PLUGINS="example"`, ...). The process environment and any `.env`
    outside `directory` are ignored, so a developer's own configuration never leaks in."""
    from eliza.settings import Settings

    directory.mkdir(parents=True, exist_ok=True)
    environ = {"ELIZA_DATA_DIR": str(directory / ".eliza"), **DEFAULT_ENV, **env}
    return Settings.from_env(environ=environ, cwd=directory)


def _installed_plugins() -> list[str]:
    from importlib import metadata

    return [ep.name for ep in metadata.entry_points(group="eliza")]


def make_server(settings: Settings, plugins: Iterable[PluginSpec] = ()) -> AgentServer:
    """An `AgentServer` loading the installed plugins `settings` allows (all by default)
    plus the in-process `plugins`, which replace installed ones of the same name."""
    from eliza.plugins import make_plugin_manager
    from eliza.server import AgentServer

    extra = list(plugins)
    replaced = {name for name, _ in extra}
    allowed = _installed_plugins() if settings.load_plugins is None else settings.load_plugins
    pm = make_plugin_manager(allow=[name for name in allowed if name not in replaced],
                             trace=settings.trace_plugins, extra=extra)
    return AgentServer(settings, pm)


@dataclass
class AppUnderTest:
    """The eliza app running in this process: `app` is the Quart app, `test_app` Quart's
    test app (lifespan running), `server` the `AgentServer` behind them."""

    app: Quart
    test_app: TestAppProtocol
    server: AgentServer

    def test_client(self) -> TestClientProtocol:
        return self.test_app.test_client()

    async def start_agent(self, *plugins: str, name: str | None = None,
                          **character: Any) -> str:
        """Create and start an agent whose character enables `plugins`; returns its id.
        `character` adds character fields (`settings={...}`, `bio=...`)."""
        from eliza.plugins import plugin_name_for

        # A misspelt or uninstalled plugin would otherwise be logged and ignored, and the
        # test would fail later with a puzzling 404.
        loaded = self.server.plugin_names()
        missing = [ref for ref in plugins if plugin_name_for(ref, loaded) is None]
        if missing:
            raise LookupError(f"plugins {missing} are not loaded; loaded: {sorted(loaded)}")
        body = {"name": name or f"Test agent {uuid.uuid4().hex[:8]}", "bio": "test agent",
                **character, "plugins": list(plugins)}
        record, _ = await self.server.agents.create(body)
        await self.server.agents.start(record.id)
        return record.id


@asynccontextmanager
async def open_app(settings: Settings, *, plugins: Iterable[PluginSpec] = (),
                   server: AgentServer | None = None) -> AsyncIterator[AppUnderTest]:
    """Run the app in this process for the `async with` block: startup hooks run on entry,
    agents stop and shutdown hooks run on exit. Give `server` to build it yourself. Its test
    client fails a test on any answer that departs from the app's published contract."""
    from eliza.app import create_app

    from .contract_client import ContractClient

    server = server or make_server(settings, plugins)
    application = create_app(settings, server)
    # Every answer a test receives is checked against the contract.
    application.test_client_class = ContractClient  # type: ignore[assignment]
    application.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = BACKGROUND_TASK_SHUTDOWN_TIMEOUT
    async with application.test_app() as test_app:
        yield AppUnderTest(application, test_app, server)


async def wait_until(predicate: Callable[[], Any], within: float = 5.0) -> Any:
    """Poll `predicate` (sync, or returning an awaitable) until it gives a truthy value,
    which is returned; for effects that happen in another task, such as a bus listener's.
    Fails with AssertionError after `within` seconds."""
    import inspect

    import trio

    deadline = trio.current_time() + within
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if trio.current_time() >= deadline:
            raise AssertionError(f"condition not met within {within} s")
        await trio.sleep(0.01)
