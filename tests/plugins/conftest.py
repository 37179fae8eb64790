"""Fixtures: a server with the ad-hoc plugin registered through `make_plugin_manager(extra=)`,
and helpers to start agents and the bus-listener host."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conftest import make_settings, open_app
from eliza.plugins import make_plugin_manager
from eliza.server import AgentServer
from tests.plugins.adhoc import NAME, AdHocPlugin
from tests.polling import wait_until as wait_until  # re-exported: test_docs imports it here


@pytest.fixture
def adhoc() -> AdHocPlugin:
    return AdHocPlugin()


@pytest.fixture
async def adhoc_app(tmp_path: Path, adhoc: AdHocPlugin) -> AsyncIterator[Any]:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    pm = make_plugin_manager(allow=["example"], extra=[(NAME, adhoc)])
    async with open_app(settings, AgentServer(settings, pm)) as test_app:
        yield test_app
    pm.unregister(adhoc)


@pytest.fixture
def adhoc_server(adhoc_app: Any) -> AgentServer:
    server: AgentServer = adhoc_app.app.config["ELIZA_SERVER"]
    return server


async def start_agent(server: AgentServer, name: str, plugins: list[str]) -> str:
    record, _ = await server.agents.create({"name": name, "bio": "test", "plugins": plugins})
    await server.agents.start(record.id)
    return record.id


@pytest.fixture
def listeners(adhoc_server: AgentServer) -> AgentServer:
    """The server, whose bus listeners run with it."""
    assert adhoc_server.listeners.running
    return adhoc_server


@pytest.fixture
def live(live_server_factory: Any) -> Any:
    """`live_server`, minus a known leak: the root conftest's `LiveServer.start` leaves its
    log file object to the garbage collector, a ResourceWarning that `filterwarnings=error`
    turns into a setup error. Use `live_server` directly once that file is closed there."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        return live_server_factory()
