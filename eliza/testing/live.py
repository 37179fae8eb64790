"""A real server process for tests: `hypercorn -k trio eliza.app:app` on a free port.
httpx is imported when called, never at import (see the package's docstring)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .inprocess import DEFAULT_ENV

# A live server checks each REST answer against its own /api/openapi.json (unless its
# `defaults` or `env` say otherwise) and logs a line with this mark for each departure;
# `contract_violations()` collects them for the tests.
CHECKED = {"ELIZA_CONTRACT_CHECK": "true"}
VIOLATION_MARK = b"contract violation: "


@dataclass
class _WatchedLog:
    path: Path
    proc: subprocess.Popen[bytes]
    offset: int  # how much of it was read


_watched: list[_WatchedLog] = []


def watch_log(log_path: Path, proc: subprocess.Popen[bytes], offset: int = 0) -> None:
    """Have `contract_violations()` read `log_path` from `offset` on: `proc`, a server
    started with ELIZA_CONTRACT_CHECK, writes its output there."""
    _watched.append(_WatchedLog(log_path, proc, offset))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_pids(parent: int) -> list[int]:
    """The live child processes of `parent` that serve (multiprocessing's resource tracker
    left out), oldest first (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited meanwhile
        if int(fields[1]) != parent or fields[0] == "Z":
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if b"resource_tracker" in cmdline.read():
                    continue
        except OSError:
            continue
        found.append((int(fields[19]), int(entry)))  # (start time, pid)
    return [pid for _, pid in sorted(found)]


@dataclass
class LiveServer:
    """A real `hypercorn -k trio eliza.app:app` process on a free port, its data in
    `data_dir`, its output in `log_path` (beside the data dir). It inherits the process
    environment, then `defaults`, then `env`; it loads the installed plugins
    (`ELIZA_LOAD_PLUGINS` narrows them). By default it checks each REST answer against its
    own contract (`ELIZA_CONTRACT_CHECK`): `contract_violations()` lists what it found."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ENV))
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / "server.log"

    @property
    def auth_headers(self) -> dict[str, str]:
        """The API key header when this server runs with ELIZA_SERVER_AUTH_TOKEN."""
        token = self.env.get("ELIZA_SERVER_AUTH_TOKEN")
        return {"X-API-KEY": token} if token else {}

    def command(self) -> list[str]:
        """The server's command line (a subclass may wrap it)."""
        return [sys.executable, "-m", "hypercorn", "-k", "trio", "-b",
                f"127.0.0.1:{self.port}", "eliza.app:app"]

    def start(self, timeout: float = 30.0, *, port: int | None = None) -> None:
        """Start the process (on `port`, else a free one) and return once it answers a ping;
        its log in the error when it exits early or does not answer in time."""
        import httpx

        self.port = port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ELIZA_DATA_DIR": str(self.data_dir), **CHECKED, **self.defaults,
               **self.env}
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            offset = log.tell()
            self.proc = subprocess.Popen(self.command(), cwd=self.data_dir.parent, env=env,
                                         stdout=log, stderr=subprocess.STDOUT)
        watch_log(self.log_path, self.proc, offset)
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:  # it will never answer: fail now
                raise RuntimeError(f"eliza server exited early:\n{self.log()}")
            try:
                resp = httpx.get(f"{self.url}/api/server/ping", headers=self.auth_headers,
                                 timeout=1)
                if resp.status_code == 200:
                    return
            except httpx.HTTPError as exc:
                last_error = exc
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"eliza server did not answer a ping in {timeout} s "
                           f"({last_error!r}):\n{self.log()}")

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

    def worker_pid(self) -> int:
        """The process serving the app: hypercorn's worker (its only child), or hypercorn
        itself when it has none."""
        assert self.proc is not None, "the server is not running"
        children = child_pids(self.proc.pid)
        return children[0] if children else self.proc.pid

    def restart(self) -> None:
        self.stop()
        self.start()

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


def contract_violations() -> list[str]:
    """The contract violations the live servers of this process logged since the last
    call (each line names the request, the status and what departs from the contract)."""
    found = []
    for watched in _watched:
        try:
            with open(watched.path, "rb") as log:
                log.seek(watched.offset)
                text = log.read()
        except OSError:
            text = b""
        watched.offset += len(text)
        found += [line.decode(errors="replace").strip()
                  for line in text.splitlines() if VIOLATION_MARK in line]
    # A server that has exited was read to its end: no need to read it again.
    _watched[:] = [watched for watched in _watched if watched.proc.poll() is None]
    return found
