"""Root fixtures: settings on a temporary data dir, the app under test (lifespan running),
a real hypercorn server on a free port, and a runner for the published node clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from eliza.app import create_app
from eliza.server import AgentServer
from eliza.settings import Settings
from tests.polling import wait_until_sync

ROOT = Path(__file__).parent
NODE_DIR = ROOT / "tests" / "node"


def make_settings(tmp_path: Path, **env: str) -> Settings:
    base = {"ELIZA_DATA_DIR": str(tmp_path / ".eliza"), "ELIZA_RATE_LIMIT": "off"}
    return Settings.from_env(environ={**base, **env}, cwd=tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@asynccontextmanager
async def open_app(settings: Settings, server: AgentServer | None = None) -> AsyncIterator[Any]:
    """The app under test with its lifespan running (for tests that need their own settings
    or server); `.app.config["ELIZA_SERVER"]` is the AgentServer."""
    application = create_app(settings, server)
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A real `hypercorn -k trio eliza.app:app` process on a free port."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_headers(self) -> dict[str, str]:
        """The API key header when this server runs with ELIZA_SERVER_AUTH_TOKEN."""
        token = self.env.get("ELIZA_SERVER_AUTH_TOKEN")
        return {"X-API-KEY": token} if token else {}

    def start(self, timeout: float = 30.0) -> None:
        self.port = free_port()
        env = {**os.environ, "ELIZA_DATA_DIR": str(self.data_dir), "ELIZA_RATE_LIMIT": "off",
               **self.env}
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:  # the child keeps its own descriptor
            proc = self.proc = subprocess.Popen(
                [sys.executable, "-m", "hypercorn", "-k", "trio", "-b",
                 f"127.0.0.1:{self.port}", "eliza.app:app"],
                cwd=self.data_dir.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
            )

        def answers_ping() -> bool:
            if proc.poll() is not None:  # it will never answer: fail now, not at the deadline
                raise RuntimeError(f"server exited early:\n{self.log()}")
            return httpx.get(self.url + "/api/server/ping", headers=self.auth_headers,
                             timeout=1).status_code == 200

        wait_until_sync(answers_ping, within=timeout, interval=0.1, ignoring=(httpx.HTTPError,),
                        message=lambda: f"the server to answer a ping; its log:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


@pytest.fixture
def live_server_factory(tmp_path: Path) -> Iterator[Any]:
    servers: list[LiveServer] = []

    def make(**env: str) -> LiveServer:
        server = LiveServer(tmp_path / f"srv{len(servers)}" / ".eliza", env=env)
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
    if not (NODE_DIR / "node_modules").is_dir():
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
