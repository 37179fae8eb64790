"""Pytest fixtures for testing eliza plugins (and anything else built on eliza).

pytest loads this module by itself wherever eliza is installed (the `pytest11` entry point
named `eliza`), so a plugin's tests just name the fixtures:

- `eliza_settings_factory(**env)` / `eliza_settings`: `Settings` on a fresh data directory
  under `tmp_path`, rate limits off, no default agent.
- `eliza_plugins`: in-process plugin objects to register, `[(name, plugin)]`; `[]` unless a
  test module or conftest overrides it.
- `eliza_app`: an `AppUnderTest`, the app in this process with its lifespan running (every
  installed plugin loaded, plus `eliza_plugins`); `await eliza_app.start_agent("name")`
  creates and starts an agent whose character enables plugin `name`.
- `eliza_client`: the Quart test client of `eliza_app`; `eliza_server`: its `AgentServer`.
- `eliza_live_server_factory(**env)` / `eliza_live_server`: a real
  `hypercorn -k trio eliza.app:app` process on a free port, stopped at teardown.
- `eliza_rest_client`: the SDK's `ElizaClient` pointed at `eliza_live_server`.

`wait_until(predicate)` waits for what happens in another task (a bus listener's work).

The async fixtures need pytest-trio (`trio_mode = true`, or `@pytest.mark.trio` on tests).
Since pytest imports this module in every run of every project where eliza is installed,
it imports only the standard library and pytest; the server, Quart and httpx are imported
inside the fixtures.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from quart import Quart
    from quart.typing import TestAppProtocol, TestClientProtocol

    from eliza.client import ElizaClient
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
    agents stop and shutdown hooks run on exit. Give `server` to build it yourself."""
    from eliza.app import create_app

    server = server or make_server(settings, plugins)
    application = create_app(settings, server)
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A real `hypercorn -k trio eliza.app:app` process on a free port. It inherits the
    process environment, then `DEFAULT_ENV`, then `env`; it loads the installed plugins
    (`ELIZA_LOAD_PLUGINS` narrows them)."""

    directory: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    @property
    def auth_headers(self) -> dict[str, str]:
        """The API key header when this server runs with ELIZA_SERVER_AUTH_TOKEN."""
        token = self.env.get("ELIZA_SERVER_AUTH_TOKEN")
        return {"X-API-KEY": token} if token else {}

    def start(self, timeout: float = 30.0) -> None:
        import httpx

        self.port = free_port()
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ELIZA_DATA_DIR": str(self.directory / ".eliza"), **DEFAULT_ENV,
               **self.env}
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hypercorn", "-k", "trio", "-b",
                 f"127.0.0.1:{self.port}", "eliza.app:app"],
                cwd=self.directory, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"eliza server exited early:\n{self.log()}")
            try:
                resp = httpx.get(f"{self.url}/api/server/ping", headers=self.auth_headers,
                                 timeout=1)
                if resp.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"eliza server did not start in {timeout} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Stop the process (gracefully, then killed after `timeout`); its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start_agent(self, *plugins: str, name: str | None = None, **character: Any) -> str:
        """Create and start an agent whose character enables `plugins`; returns its id."""
        import httpx

        body = {"name": name or f"Test agent {uuid.uuid4().hex[:8]}", "bio": "test agent",
                **character, "plugins": list(plugins)}
        with httpx.Client(base_url=self.url, headers=self.auth_headers, timeout=30) as http:
            created = http.post("/api/agents", json={"characterJson": body})
            created.raise_for_status()
            agent_id = str(created.json()["data"]["id"])
            http.post(f"/api/agents/{agent_id}/start").raise_for_status()
        return agent_id


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def eliza_settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    """`make(**env)`: settings on a new data directory under `tmp_path` per call."""
    counter = itertools.count()

    def make(**env: str) -> Settings:
        return make_settings(tmp_path / f"eliza{next(counter)}", **env)

    return make


@pytest.fixture
def eliza_settings(eliza_settings_factory: Callable[..., Settings]) -> Settings:
    """Override it to change the app's settings, e.g. `ELIZA_LOAD_PLUGINS`."""
    return eliza_settings_factory()


@pytest.fixture
def eliza_plugins() -> list[PluginSpec]:
    """In-process plugins `(name, plugin)` for `eliza_app`; override it to add yours."""
    return []


@pytest.fixture
async def eliza_app(eliza_settings: Settings,
                    eliza_plugins: list[PluginSpec]) -> AsyncIterator[AppUnderTest]:
    async with open_app(eliza_settings, plugins=eliza_plugins) as running:
        yield running


@pytest.fixture
def eliza_server(eliza_app: AppUnderTest) -> AgentServer:
    return eliza_app.server


@pytest.fixture
def eliza_client(eliza_app: AppUnderTest) -> TestClientProtocol:
    return eliza_app.test_client()


@pytest.fixture
def eliza_live_server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """`make(**env)`: start another live server with these settings."""
    servers: list[LiveServer] = []

    def make(**env: str) -> LiveServer:
        server = LiveServer(tmp_path / f"eliza-live{len(servers)}", env=env)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def eliza_live_server(eliza_live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return eliza_live_server_factory()


@pytest.fixture
async def eliza_rest_client(eliza_live_server: LiveServer) -> AsyncIterator[ElizaClient]:
    from eliza.client import ElizaClient

    token = eliza_live_server.env.get("ELIZA_SERVER_AUTH_TOKEN")
    async with ElizaClient(eliza_live_server.url, api_key=token) as client:
        yield client


__all__ = [
    "BACKGROUND_TASK_SHUTDOWN_TIMEOUT",
    "DEFAULT_ENV",
    "AppUnderTest",
    "LiveServer",
    "free_port",
    "make_server",
    "make_settings",
    "open_app",
    "wait_until",
]
