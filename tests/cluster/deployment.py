"""A deployment on loopback for tests: "hosts" that are `eliza serve --workers N` processes
(each with its own data directory and port) on one PostgreSQL schema and one bus, and a
Redis broker of the test's own that a test may kill and restart."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from conftest import LiveServer
from eliza.testing.live import child_pids, free_port
from tests.backends import own_schema
from tests.postgres.support import TcpProxy

SALT = "a-salt-every-host-of-the-test-deployment-shares"


class Host(LiveServer):
    """One host: `eliza serve --workers N` (a supervisor and its N trio workers)."""

    workers: int = 2
    direct_url: str = ""  # the database itself, past any proxy the host goes through

    def command(self) -> list[str]:
        return [sys.executable, "-c", "import sys; from eliza.cli import main; sys.exit(main())",
                "serve", "--workers", str(self.workers), "--port", str(self.port)]

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        return child_pids(self.proc.pid)

    def wait_for_workers(self, within: float = 30.0) -> list[int]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == self.workers:
                return pids
            time.sleep(0.1)
        raise AssertionError(f"{self.workers} workers did not come up:\n{self.log()[-3000:]}")


class RedisBroker:
    """A redis-server of the test's own, on a free port, without persistence (as a broker
    restart loses every stream)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server is not None, "redis-server is not installed"
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()


@contextmanager
def deployment(root: Path, *, hosts: int = 2, workers: int = 2, bus: str = "postgres",
               lease: float = 3.0, env: dict[str, str] | None = None,
               via: TcpProxy | None = None) -> Iterator[list[Host]]:
    """`hosts` hosts of `workers` workers on one fresh schema (and, for `bus="redis"`, a
    broker of their own at `env["REDIS_URL"]`), all started and answering; stopped after.
    With `via`, the hosts reach PostgreSQL through that proxy (a test cuts it to take the
    database away from all of them at once)."""
    with own_schema("dep") as (_, url):
        served = url if via is None else via.route(url)
        shared = {"POSTGRES_URL": served, "ELIZA_BUS": bus, "ELIZA_LEASE_SECONDS": str(lease),
                  "SECRET_SALT": SALT, **(env or {})}
        started: list[Host] = []
        try:
            for n in range(hosts):
                host = Host(root / f"host{n}" / ".eliza", dict(shared))
                host.workers = workers
                host.direct_url = url
                started.append(host)
                host.start(timeout=60)
                host.wait_for_workers()
            yield started
        finally:
            for host in started:
                host.stop(timeout=40)


def sql(host: Host, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows from the deployment's database (its schema is the host's POSTGRES_URL's)."""
    import psycopg

    with psycopg.connect(host.direct_url or host.env["POSTGRES_URL"], connect_timeout=10) as conn:
        return list(conn.execute(query.replace("?", "%s"), params).fetchall())


def agents(host: Host) -> dict[str, dict[str, Any]]:
    body = httpx.get(f"{host.url}/api/agents", timeout=10).json()
    return {a["name"]: a for a in body["data"]["agents"]}


def pause(pid: int) -> None:
    os.kill(pid, signal.SIGSTOP)


def resume(pid: int) -> None:
    os.kill(pid, signal.SIGCONT)
