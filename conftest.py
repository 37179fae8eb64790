"""Root fixtures: the store each test runs on (SQLite, then PostgreSQL), settings on a
temporary data dir, the app under test (lifespan running), a real hypercorn server on a free
port, and a runner for the published node clients."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from eliza.app import create_app
from eliza.server import AgentServer
from eliza.settings import Settings
from eliza.testing.contract_client import ContractClient
from eliza.testing.live import LiveServer as KitLiveServer
from eliza.testing.live import free_port as free_port
from tests import backends
from tests.backends import Backend

ROOT = Path(__file__).parent
NODE_DIR = ROOT / "tests" / "node"


STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True, params=STORES)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Every test that keeps data runs on both stores: `make_settings` and `LiveServer`
    give the servers it starts the current one."""
    chosen = Backend(request.param)
    backends.current = chosen
    try:
        yield chosen
    finally:
        backends.current = Backend("sqlite")
        chosen.cleanup()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the PostgreSQL variant only where it can differ: a test that keeps data has a
    data directory (`tmp_path`), and one marked `sqlite_only` is about SQLite itself."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("backend") == "postgres"
        fixtures = getattr(item, "fixturenames", ())
        if on_postgres and ("tmp_path" not in fixtures
                            or item.get_closest_marker("sqlite_only") is not None):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def backend_env() -> dict[str, str]:
    """What a server needs to use the current test's store."""
    return dict(backends.current.env)


def make_settings(tmp_path: Path, **env: str) -> Settings:
    base = {"ELIZA_DATA_DIR": str(tmp_path / ".eliza"), "ELIZA_RATE_LIMIT": "off",
            **backend_env()}
    return Settings.from_env(environ={**base, **env}, cwd=tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@asynccontextmanager
async def open_app(settings: Settings, server: AgentServer | None = None) -> AsyncIterator[Any]:
    """The app under test with its lifespan running (for tests that need their own settings
    or server); `.app.config["ELIZA_SERVER"]` is the AgentServer. Its test client checks
    every response against the published contract (eliza/testing/contract_client.py)."""
    application = create_app(settings, server)
    application.test_client_class = ContractClient  # type: ignore[assignment]
    # Quart-Trio's `None` here cancels the lifespan task itself, so shutdown never completes
    # (the test app then times out with a corrupted nursery stack); a deadline lets the
    # server's after_serving stop the agents gracefully.
    application.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = 10
    async with application.test_app() as test_app:
        yield test_app


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    async with open_app(settings) as test_app:
        yield test_app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def agent_server(app: Any) -> AgentServer:
    server: AgentServer = app.app.config["ELIZA_SERVER"]
    return server


class LiveServer(KitLiveServer):
    """The plugin authors' live server (eliza.testing) with the project's defaults: the
    default agent is created, rate limits are off."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(data_dir, env or {},
                         defaults={"ELIZA_RATE_LIMIT": "off", **backend_env()})


@pytest.fixture
def live_server_factory(tmp_path: Path) -> Iterator[Any]:
    servers: list[LiveServer] = []

    def make(**env: str) -> LiveServer:
        server = LiveServer(tmp_path / f"srv{len(servers)}" / ".eliza", env)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(live_server_factory: Any) -> LiveServer:
    server: LiveServer = live_server_factory()
    return server


def run_node(script: str, *args: str, timeout: float = 120.0, env: dict[str, str] | None = None
             ) -> Any:
    """Run a script of tests/node with node; its last stdout line is JSON."""
    installed = NODE_DIR / "node_modules" / ".package-lock.json"  # what npm ci installed
    if not installed.is_file() or (
            installed.stat().st_mtime < (NODE_DIR / "package-lock.json").stat().st_mtime):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                       timeout=300)
    proc = subprocess.run(
        ["node", str(NODE_DIR / script), *args], cwd=NODE_DIR, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise AssertionError(f"node {script} failed ({proc.returncode}):\n{proc.stdout}\n"
                             f"{proc.stderr}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])
