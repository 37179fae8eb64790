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

Every answer is held against the app's published contract (/api/openapi.json): the test
client of `eliza_app` fails the test in place, and a test whose live servers logged a
departure (`ELIZA_CONTRACT_CHECK`) fails at its teardown, listing what they logged.

The async fixtures need pytest-trio (`trio_mode = true`, or `@pytest.mark.trio` on tests).
Since pytest imports this package in every run of every project where eliza is installed,
it and its modules import only the standard library and pytest; the server, Quart and
httpx are imported inside the fixtures and helpers.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .inprocess import (
    BACKGROUND_TASK_SHUTDOWN_TIMEOUT,
    DEFAULT_ENV,
    AppUnderTest,
    PluginSpec,
    make_server,
    make_settings,
    open_app,
    wait_until,
)
from .live import LiveServer, contract_violations, free_port

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol

    from eliza.client import ElizaClient
    from eliza.server import AgentServer
    from eliza.settings import Settings


@pytest.fixture(autouse=True)
def _eliza_live_contract() -> Iterator[None]:
    """Fails the test when a live server logged answers that depart from its contract."""
    yield
    found = contract_violations()
    if found:
        pytest.fail("live servers answered outside their contract:\n" + "\n".join(found),
                    pytrace=False)


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
        server = LiveServer(tmp_path / f"eliza-live{len(servers)}" / ".eliza", env=env)
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
    "PluginSpec",
    "free_port",
    "make_server",
    "make_settings",
    "open_app",
    "wait_until",
]
