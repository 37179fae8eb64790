"""Real hypercorn servers (`-k trio`) running `tests.realtime.app_for_tests`, one per config.

The servers are subprocesses on free loopback ports, started once per session and stopped
with SIGTERM to the master at the end. Their logs go to a file the tests can read.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.polling import wait_until_sync

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveServer:
    url: str  # http://127.0.0.1:<port>
    log_path: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> int:
        """SIGTERM to the hypercorn master (it stops its worker gracefully); the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    def eio_url(self, transport: str, sid: str | None = None, *, ws: bool = False) -> str:
        base = self.ws_url if ws else self.url
        url = f"{base}/socket.io/?EIO=4&transport={transport}"
        return url if sid is None else f"{url}&sid={sid}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/test/stats", timeout=5)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def disconnects(self) -> list[str]:
        """Socket.IO sids seen by the app's on_disconnect hook, in order."""
        sids: list[str] = self.stats()["disconnects"]
        return sids

    def engine_sessions(self) -> list[str]:
        """Engine.IO sids the server still holds; a session leaves once it has fully ended
        (its on_disconnect done, its heartbeat stopped)."""
        sids: list[str] = self.stats()["engine_sessions"]
        return sids

    def polls_waiting(self) -> list[str]:
        """Engine.IO sids with a long poll held open by the server."""
        sids: list[str] = self.stats()["polls_waiting"]
        return sids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def run_server(tmp: Path, name: str, env: dict[str, str]) -> Iterator[LiveServer]:
    """Start hypercorn with the test app, wait until it answers, stop it on exit."""
    port = _free_port()
    log_path = tmp / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hypercorn",
                "-k",
                "trio",
                "-b",
                f"127.0.0.1:{port}",
                "--graceful-timeout",
                "1",
                "tests.realtime.app_for_tests:app",
            ],
            cwd=REPO_ROOT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", log_path, process)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"hypercorn exited early:\n{server.log()}")
            return httpx.get(f"{server.url}/test/stats", timeout=1).status_code == 200

        wait_until_sync(ready, within=20, interval=0.1, ignoring=(httpx.TransportError,),
                        message=lambda: f"hypercorn to become ready:\n{server.log()}")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Default heartbeat (25 s / 20 s); outbox of 64 packets so slow consumers trip quickly."""
    with run_server(tmp_path_factory.mktemp("rt"), "default", {"RT_OUTBOX_SIZE": "64"}) as live:
        yield live


@pytest.fixture(scope="session")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Fast heartbeat (0.4 s / 0.4 s) and a 1 kB maxPayload."""
    env = {"RT_PING_INTERVAL": "0.4", "RT_PING_TIMEOUT": "0.4", "RT_MAX_PAYLOAD": "1000"}
    with run_server(tmp_path_factory.mktemp("rt"), "fast", env) as live:
        yield live
