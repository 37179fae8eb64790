"""`eliza serve --workers N` on PostgreSQL: the supervisor keeps N worker processes serving
one port, replaces a dead one, stops them all on SIGTERM or `POST /api/server/stop`, takes
them down with it when it is killed, stops at a failed start with the reason, and refuses
SQLite. Also hypercorn's own `-w N` mode on PostgreSQL, and the orphan watch on its own.

Real processes throughout; which worker serves a connection is read from /proc (the
worker holding the accepted socket), so no API tells it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import LiveServer, free_port
from eliza.cluster.supervisor import Backoff
from eliza.testing.live import child_pids, watch_log
from tests.backends import own_schema

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]

WORKERS = 2
# The supervisor's SIGKILL bound (ELIZA_STOP_TIMEOUT, 30 s by default), above a worker's own
# drain (about 5 s at most); waits allow the margin below on top.
STOP_BOUND = 10.0
MARGIN = 10.0


def wait_for(condition: Callable[[], object], within: float, what: str,
             log: Callable[[], str] = lambda: "") -> object:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {within} s waiting for {what}\n{log()}")


def ping(port: int) -> bool:
    """One ping on a new connection (so any worker may take it)."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/server/ping", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as text:
            return text.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@dataclass
class Deployment:
    """`eliza serve --workers N` as a user runs it, its output in `log_path`."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> list[int]:
        return child_pids(self.proc.pid)

    def wait_serving(self, within: float = 60.0) -> None:
        def serving() -> bool:
            assert self.proc.poll() is None, f"the supervisor exited early:\n{self.log()}"
            return "eliza: serving on" in self.log() and ping(self.port)

        wait_for(serving, within, "the deployment to serve", self.log)

    def wait_exit(self, within: float) -> int:
        try:
            return self.proc.wait(within)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {within} s:\n{self.log()}") from None

    def connection_owners(self, clients: list[socket.socket]) -> list[int]:
        """The worker pid holding the accepted side of each connected client socket."""
        client_ports = {sock.getsockname()[1] for sock in clients}
        inode_client: dict[str, int] = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as lines:
                for line in list(lines)[1:]:
                    fields = line.split()
                    local, remote, inode = fields[1], fields[2], fields[9]
                    local_port = int(local.rsplit(":", 1)[1], 16)
                    remote_port = int(remote.rsplit(":", 1)[1], 16)
                    if local_port == self.port and remote_port in client_ports:
                        inode_client[inode] = remote_port
        owner: dict[int, int] = {}
        for pid in self.workers():
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:[") and target[8:-1] in inode_client:
                    owner[inode_client[target[8:-1]]] = pid
        return [owner.get(sock.getsockname()[1], 0) for sock in clients]


def start(tmp_path: Path, *args: str, **env: str) -> Deployment:
    port = free_port()
    log_path = tmp_path / f"eliza-{port}.log"
    environ = {**os.environ, "ELIZA_DATA_DIR": str(tmp_path / ".eliza"),
               "ELIZA_RATE_LIMIT": "off", "ELIZA_BUS": "postgres",
               "ELIZA_CONTRACT_CHECK": "true", **env}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "eliza.cli", "serve", "--port", str(port), *args],
            cwd=tmp_path, env=environ, stdout=log, stderr=subprocess.STDOUT)
    watch_log(log_path, proc)  # its workers' answers are checked against the contract too
    return Deployment(proc, port, log_path)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with own_schema("sup") as (_, url):
        running = start(tmp_path, "--workers", str(WORKERS), POSTGRES_URL=url,
                        ELIZA_STOP_TIMEOUT=f"{STOP_BOUND:g}")
        try:
            running.wait_serving()
            yield running
        finally:
            if running.proc.poll() is None:
                running.proc.send_signal(signal.SIGTERM)
                try:
                    running.proc.wait(STOP_BOUND + MARGIN)
                except subprocess.TimeoutExpired:
                    running.proc.kill()
                    running.proc.wait()


def test_two_workers_serve_the_port_and_share_its_connections(deployment: Deployment) -> None:
    workers = deployment.workers()
    assert len(workers) == WORKERS, deployment.log()
    assert f"with {WORKERS} workers" in deployment.log()
    clients: list[socket.socket] = []
    owners: list[int] = []
    try:
        # Kept open, so each stays with the worker that accepted it; the kernel wakes every
        # worker for a connection and the first to run takes it, so a busy machine can skew
        # a short run: go on until both served one, up to a bound.
        while len(clients) < 120 and set(owners) != set(workers):
            for _ in range(8):
                sock = socket.create_connection(("127.0.0.1", deployment.port), timeout=5)
                clients.append(sock)
                sock.sendall(b"GET /api/server/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            owners = deployment.connection_owners(clients)
    finally:
        for sock in clients:
            sock.close()
    assert 0 not in owners, owners
    assert set(owners) == set(workers), owners


def test_a_killed_worker_is_replaced_while_the_port_keeps_answering(
        deployment: Deployment) -> None:
    victim, survivor = deployment.workers()
    os.kill(victim, signal.SIGKILL)
    failed = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        failed += not ping(deployment.port)
        workers = deployment.workers()
        if len(workers) == WORKERS and victim not in workers and "is serving" in deployment.log():
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"no replacement for worker {victim}:\n{deployment.log()}")
    assert failed == 0, deployment.log()
    assert survivor in workers
    assert f"(pid {victim}) was killed by SIGKILL; starting another in 0.5 s" in deployment.log()
    assert all(ping(deployment.port) for _ in range(5))


def test_sigterm_stops_every_worker_and_exits_0(deployment: Deployment) -> None:
    workers = deployment.workers()
    began = time.monotonic()
    deployment.proc.send_signal(signal.SIGTERM)
    assert deployment.wait_exit(STOP_BOUND + MARGIN) == 0, deployment.log()
    assert time.monotonic() - began < STOP_BOUND
    assert all(process_gone(pid) for pid in workers)
    assert port_is_free(deployment.port)
    assert "eliza: stopped" in deployment.log()


@pytest.mark.slow
def test_a_worker_that_does_not_stop_is_killed_after_the_bound(deployment: Deployment) -> None:
    stuck, other = deployment.workers()
    os.kill(stuck, signal.SIGSTOP)  # it cannot act on SIGTERM; SIGKILL still ends it
    began = time.monotonic()
    deployment.proc.send_signal(signal.SIGTERM)
    assert deployment.wait_exit(STOP_BOUND + MARGIN) == 0, deployment.log()
    assert STOP_BOUND - 1 < time.monotonic() - began < STOP_BOUND + MARGIN
    assert process_gone(stuck)
    assert process_gone(other)
    assert f"(pid {stuck}) did not stop within {STOP_BOUND:g} s; killing it" in deployment.log()


def test_post_server_stop_stops_the_whole_deployment(deployment: Deployment) -> None:
    workers = deployment.workers()
    response = httpx.post(f"http://127.0.0.1:{deployment.port}/api/server/stop",
                          headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200
    assert deployment.wait_exit(STOP_BOUND + MARGIN) == 0, deployment.log()
    assert all(process_gone(pid) for pid in workers)
    assert "starting another" not in deployment.log()


def test_workers_exit_when_the_supervisor_is_killed(deployment: Deployment) -> None:
    workers = deployment.workers()
    deployment.proc.kill()
    deployment.proc.wait(5)
    wait_for(lambda: all(process_gone(pid) for pid in workers), 10,
             "the workers to exit", deployment.log)
    wait_for(lambda: port_is_free(deployment.port), 5, "the port to be free", deployment.log)


def test_a_failed_start_stops_the_deployment_with_the_reason(tmp_path: Path) -> None:
    closed = free_port()
    deployment = start(tmp_path, "--workers", str(WORKERS),
                       POSTGRES_URL=f"postgresql://postgres@127.0.0.1:{closed}/test",
                       POSTGRES_CONNECT_TIMEOUT="1")
    try:
        code = deployment.wait_exit(30)
    finally:
        deployment.proc.kill()
    log = deployment.log()
    assert code == 1, log
    assert f"eliza: cannot connect to postgresql://postgres@127.0.0.1:{closed}/test" in log
    assert "starting another" not in log
    assert "serving on" not in log
    assert port_is_free(deployment.port)
    assert not [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                if f"--supervisor {deployment.proc.pid} " in cmdline(pid)], "workers left"


@pytest.mark.parametrize(("env", "message"), [
    ({"POSTGRES_URL": "", "DATABASE_URL": "", "ELIZA_BUS": ""},
     "eliza: SQLite serves one process: set POSTGRES_URL to run several workers"),
    ({"POSTGRES_URL": "postgresql://postgres@127.0.0.1:5432/test", "ELIZA_BUS": "memory"},
     "eliza: the memory bus (ELIZA_BUS=memory) serves one process"),
])
def test_one_process_stores_and_buses_are_refused(tmp_path: Path, env: dict[str, str],
                                                  message: str) -> None:
    deployment = start(tmp_path, "--workers", "2", **env)
    try:
        assert deployment.wait_exit(30) == 2
    finally:
        deployment.proc.kill()
    assert message in deployment.log()
    assert not (tmp_path / ".eliza" / "eliza.db").exists()  # nothing was started


class HypercornWorkers(LiveServer):
    def command(self) -> list[str]:
        return [*super().command()[:-1], "-w", str(WORKERS), "eliza.app:app"]


def test_hypercorn_own_workers_serve_on_postgres_and_stop_on_sigterm(tmp_path: Path) -> None:
    with own_schema("hyp") as (_, url):
        server = HypercornWorkers(tmp_path / "srv" / ".eliza", {"POSTGRES_URL": url})
        try:
            server.start(timeout=60)
            assert server.proc is not None
            # Its workers, not the resource tracker multiprocessing starts beside them.
            workers = [pid for pid in child_pids(server.proc.pid)
                       if "spawn_main" in cmdline(pid)]
            assert len(workers) == WORKERS, server.log()
            assert all(ping(server.port) for _ in range(10))
        finally:
            code = server.stop(signal.SIGTERM, timeout=STOP_BOUND + MARGIN)
        assert code == 0, server.log()
        assert all(process_gone(pid) for pid in workers)


# -- the orphan watch, in processes of its own ------------------------------------------------

ORPHAN = """
import os, sys, trio
from functools import partial
from eliza.cluster.orphan import die_with_parent, exit_when_orphaned, leave_when_orphaned

mode, marker, parent = sys.argv[1], sys.argv[2], os.getppid()
if mode == "signal":
    die_with_parent()  # SIGTERM, whose default action ends the process
    open(marker, "w").write("armed")
    trio.run(trio.sleep, 60)
elif mode == "watch":
    async def main():
        done = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(exit_when_orphaned, parent, done.set, interval=0.1))
            open(marker, "w").write("armed")
            await done.wait()
            open(marker, "w").write("orphaned")
            nursery.cancel_scope.cancel()
    trio.run(main)
else:
    async def stop():
        open(marker, "w").write("stopped")
    async def main():
        open(marker, "w").write("armed")
        await leave_when_orphaned(parent, stop, interval=0.1)
    trio.run(main)
"""


def orphan_a_child(tmp_path: Path, mode: str) -> tuple[int, Path]:
    """Start a process whose child runs ORPHAN in `mode`, then SIGKILL the process: the
    child's pid and its marker file."""
    marker = tmp_path / f"{mode}.marker"
    script = tmp_path / "orphan.py"
    script.write_text(textwrap.dedent(ORPHAN))
    with subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, {str(script)!r}, {mode!r}, {str(marker)!r}])
        print(child.pid, flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE) as middle:
        try:
            assert middle.stdout is not None
            child = int(middle.stdout.readline())
            wait_for(marker.exists, 20, f"the {mode} child to start")
        finally:
            middle.kill()
    return child, marker


@pytest.mark.parametrize("mode", ["signal", "watch", "leave"])
def test_a_process_whose_parent_died_exits(tmp_path: Path, mode: str) -> None:
    child, marker = orphan_a_child(tmp_path, mode)
    wait_for(lambda: process_gone(child), 5, f"the orphaned {mode} child to exit")
    expected = {"signal": "armed", "watch": "orphaned", "leave": "stopped"}[mode]
    assert marker.read_text() == expected


def test_backoff_doubles_to_its_cap_and_resets_after_a_steady_run() -> None:
    backoff = Backoff()
    delays = [backoff.after_exit(1.0) for _ in range(9)]
    assert delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.after_exit(61.0) == 0.5
    assert backoff.after_exit(1.0) == 1
