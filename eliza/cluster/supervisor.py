"""`eliza serve --workers N`: one supervisor process opens the listening socket and keeps N
worker processes (eliza/cluster/worker.py) serving on it; the kernel hands each new
connection to one of the workers accepting on the shared socket.

- All workers ready: one line says so. A worker that fails while the deployment starts
  stops the others, and the supervisor exits 1 with its reason: a configuration error is
  not retried.
- A worker that exits later is replaced after a back-off (0.5 s doubling to 30 s, back to
  0.5 s once a worker ran for a minute); each exit is logged with its status.
- SIGTERM or SIGINT: every worker gets SIGTERM and drains; one still running after
  `stop_timeout` gets SIGKILL; the supervisor exits 0.
- Workers exit when the supervisor dies (eliza/cluster/orphan.py).
- The workers share a metrics directory, so a scrape of any of them covers the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, final

import trio

from .. import metrics
from ..settings import Settings

BACKLOG = 100  # hypercorn's default
REPORT_LIMIT = 64 * 1024  # a worker writes one or two short lines


def refusal(settings: Settings) -> str | None:
    """Why `settings` cannot run several workers, or None when they can."""
    if not settings.database_url:
        return "SQLite serves one process: set POSTGRES_URL to run several workers"
    if not settings.cluster.shared:
        return ("the memory bus (ELIZA_BUS=memory) serves one process: set ELIZA_BUS=postgres"
                " or ELIZA_BUS=redis to run several workers")
    return None


def open_listener(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    """The listening TCP socket the workers share (raises OSError when it cannot bind)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                flags=socket.AI_PASSIVE)[0][0]
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    # Accepted connections inherit it: the same latency as hypercorn's own binds.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def run_supervisor(settings: Settings, workers: int, *, access_log: bool = False,
                   stop_timeout: float) -> int:
    """Serve with `workers` processes until SIGINT/SIGTERM; the exit status."""
    try:
        listener = open_listener(settings.host, settings.port)
    except OSError as exc:
        say(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
        return 1
    with listener:
        supervisor = Supervisor(settings, listener, workers, access_log=access_log,
                                stop_timeout=stop_timeout)
        return trio.run(supervisor.run)


def say(text: str) -> None:
    print(f"eliza: {text}", file=sys.stderr, flush=True)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class StartFailed(Exception):
    """A worker failed before the deployment was serving (the message says why)."""


@dataclass
class Backoff:
    """The wait before replacing a worker: `first`, doubling up to `cap`, back to `first`
    after a worker that ran for `steady` seconds."""

    first: float = 0.5
    cap: float = 30.0
    steady: float = 60.0
    _next: float = 0.5

    def __post_init__(self) -> None:
        self._next = self.first

    def after_exit(self, ran_for: float) -> float:
        if ran_for >= self.steady:
            self._next = self.first
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay


@final
class WorkerProcess:
    """A running worker: its process, the pipe it reports its start on, what it said."""

    def __init__(self, slot: int, popen: subprocess.Popen[bytes], reports: int) -> None:
        self.slot = slot
        self.popen = popen
        self.reports = trio.lowlevel.FdStream(reports)
        self.ready = False
        self.failure: str | None = None
        self.started_at = trio.current_time()
        self._pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):  # not Linux 5.3+: wait() polls
            self._pidfd = os.pidfd_open(popen.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def __str__(self) -> str:
        return f"worker {self.slot} (pid {self.pid})"

    async def wait(self) -> int:
        """Wait until the process exited; its return code (negative: killed by a signal)."""
        if self._pidfd is not None:
            await trio.lowlevel.wait_readable(self._pidfd)
        else:
            while self.popen.poll() is None:  # noqa: ASYNC110 - no pidfd, no exit event
                await trio.sleep(0.05)
        return self.popen.wait()

    def close(self) -> None:
        if self._pidfd is not None:
            trio.lowlevel.notify_closing(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self.reports.close()


@final
class Supervisor:
    def __init__(self, settings: Settings, listener: socket.socket, count: int, *,
                 access_log: bool = False, stop_timeout: float) -> None:
        self.settings = settings
        self.listener = listener
        self.count = count
        self.access_log = access_log
        self.stop_timeout = stop_timeout
        self.workers: dict[int, WorkerProcess] = {}
        self.serving = False  # every worker reported ready once
        self.stopping = False
        self._all_workers = trio.CancelScope()
        host, port = listener.getsockname()[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        # Settings the command line overrode reach the workers through their environment.
        self.env = {**os.environ, "SERVER_HOST": settings.host, "PORT": str(port)}

    async def run(self) -> int:
        """Run the workers until a signal (0) or a failed start (1)."""
        code = 0
        own_metrics = metrics.prepare_directory(self.env)
        async with trio.open_nursery() as nursery:
            await nursery.start(self._stop_on_signal)
            try:
                with self._all_workers:
                    async with trio.open_nursery() as slots:
                        for slot in range(self.count):
                            slots.start_soon(self._keep_running, slot)
            except* StartFailed as failed:
                say(str(_first_leaf(failed)))
                code = 1
            finally:
                nursery.cancel_scope.cancel()
                metrics.remove_directory(own_metrics)
        if code == 0:
            say("stopped")
        return code

    async def _stop_on_signal(self, *, task_status: trio.TaskStatus[None]) -> None:
        # Open until the end: further signals during the drain must not kill the supervisor.
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for received in signals:
                if not self.stopping:
                    self.stopping = True
                    say(f"{signal.Signals(received).name}: stopping {len(self.workers)} "
                        f"workers (at most {self.stop_timeout:g} s)")
                    self._all_workers.cancel()

    async def _keep_running(self, slot: int) -> None:
        """Run worker `slot`, replacing it whenever it exits; on cancellation stop it."""
        backoff = Backoff()
        while True:
            try:
                worker = self._spawn(slot)
            except OSError as exc:
                if not self.serving:
                    raise StartFailed(f"cannot start a worker: {exc}") from exc
                delay = backoff.after_exit(0.0)
                say(f"cannot start worker {slot}: {exc}; trying again in {delay:g} s")
                await trio.sleep(delay)
                continue
            self.workers[slot] = worker
            try:
                code = await self._watch(worker)
            except BaseException:
                with trio.CancelScope(shield=True):
                    await self._stop(worker)
                raise
            finally:
                del self.workers[slot]
                worker.close()
                metrics.worker_exited(self.env, worker.pid)
            if not worker.ready and not self.serving:
                raise StartFailed(worker.failure or f"{worker} {describe_exit(code)} "
                                  "before it was ready")
            what = (f"failed to start: {worker.failure}" if worker.failure
                    else describe_exit(code))
            delay = backoff.after_exit(trio.current_time() - worker.started_at)
            say(f"{worker} {what}; starting another in {delay:g} s")
            await trio.sleep(delay)

    def _spawn(self, slot: int) -> WorkerProcess:
        # Started from this (the main) thread, not a thread pool's: the kernel's
        # parent-death signal follows the thread that forked the worker.
        read_end, write_end = os.pipe()
        listen_fd = self.listener.fileno()
        command = [sys.executable, "-m", "eliza.cluster.worker", "--listen-fd", str(listen_fd),
                   "--report-fd", str(write_end), "--supervisor", str(os.getpid())]
        if self.access_log:
            command.append("--access-log")
        try:
            popen = subprocess.Popen(command, env=self.env, stdin=subprocess.DEVNULL,
                                     pass_fds=(listen_fd, write_end))
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        return WorkerProcess(slot, popen, read_end)

    async def _watch(self, worker: WorkerProcess) -> int:
        """Follow `worker`'s reports until it exits; its return code."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_reports, worker)
            code = await worker.wait()
            # Its reports are in the pipe by now; a process it started and that kept the
            # pipe open must not hold the supervisor.
            nursery.cancel_scope.deadline = trio.current_time() + 1.0
        return code

    async def _read_reports(self, worker: WorkerProcess) -> None:
        received = b""
        while len(received) < REPORT_LIMIT:
            chunk = await worker.reports.receive_some(4096)
            if not chunk:
                return
            received += chunk
            *lines, received = received.split(b"\n")
            for line in lines:
                self._on_report(worker, _parse(line))

    def _on_report(self, worker: WorkerProcess, report: dict[str, Any]) -> None:
        if "failed" in report:
            worker.failure = str(report["failed"])
        elif report.get("ready") and not worker.ready:
            worker.ready = True
            if self.serving:
                say(f"{worker} is serving")
            elif all(w.ready for w in self.workers.values()) and len(self.workers) == self.count:
                self.serving = True
                pids = ", ".join(str(self.workers[s].pid) for s in sorted(self.workers))
                say(f"serving on {self.url} with {self.count} workers (pids {pids}; "
                    f"data in {self.settings.data_dir})")

    async def _stop(self, worker: WorkerProcess) -> None:
        """SIGTERM, then SIGKILL after `stop_timeout`; returns once it exited."""
        worker.popen.send_signal(signal.SIGTERM)  # a no-op once it exited and was reaped
        with trio.move_on_after(self.stop_timeout):
            await worker.wait()
            return
        say(f"{worker} did not stop within {self.stop_timeout:g} s; killing it")
        worker.popen.kill()
        await worker.wait()


def _parse(line: bytes) -> dict[str, Any]:
    try:
        report = json.loads(line)
    except ValueError:
        return {}
    return report if isinstance(report, dict) else {}


def _first_leaf(group: BaseExceptionGroup[StartFailed]) -> BaseException:
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


__all__ = ["Backoff", "Supervisor", "refusal", "run_supervisor"]
