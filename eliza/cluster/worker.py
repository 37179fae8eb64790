"""One worker of `eliza serve --workers N`: hypercorn's trio server, on the listening
socket the supervisor opened and handed down, running the whole app.

    python -m eliza.cluster.worker --listen-fd 3 --report-fd 4 --supervisor 1234

It tells the supervisor how its start went with one JSON line on `--report-fd`:
`{"ready": true}` once the app is serving, or `{"failed": "<reason>"}` when the start
failed for a reason the operator can fix (then it exits with `EXIT_FAILED_START`).

SIGTERM and SIGINT stop it gracefully; so does the death of the supervisor (see
eliza/cluster/orphan.py). `POST /api/server/stop` stops the whole deployment of this host:
the worker asks the supervisor to stop, which stops every worker (a worker that stopped
alone would just be replaced).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import trio

from ..errors import StartupError
from ..settings import Settings, SettingsError
from .orphan import die_with_parent, exit_when_orphaned, orphaned

EXIT_FAILED_START = 3
# How long connections get to finish when the worker stops (as `eliza serve`).
GRACEFUL_TIMEOUT = 5.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eliza.cluster.worker",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen-fd", type=int, required=True,
                        help="the listening socket, inherited")
    parser.add_argument("--report-fd", type=int, required=True,
                        help="where to write how the start went, inherited")
    parser.add_argument("--supervisor", type=int, required=True,
                        help="pid of the supervisor (this process's parent)")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    die_with_parent(signal.SIGTERM)
    report = partial(_report, args.report_fd)
    if orphaned(args.supervisor):  # it died before the kernel could watch it for us
        return 1
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        report({"failed": f"bad setting: {exc}"})
        return EXIT_FAILED_START
    return serve_worker(settings, listen_fd=args.listen_fd, report=report,
                        supervisor_pid=args.supervisor, access_log=args.access_log)


def serve_worker(settings: Settings, *, listen_fd: int, report: Callable[[dict[str, Any]], None],
                 supervisor_pid: int, access_log: bool = False) -> int:
    """Serve the app on `listen_fd` until stopped; the process's exit status."""
    from hypercorn.config import Config
    from hypercorn.trio import serve

    from ..app import create_app

    config = Config()
    config.bind = [f"fd://{listen_fd}"]
    config.accesslog = "-" if access_log else None
    config.loglevel = logging.getLevelName(settings.log_level)
    config.graceful_timeout = GRACEFUL_TIMEOUT
    app = create_app(settings)
    # The AgentServer create_app built (this module may not import eliza.server).
    server = app.config["ELIZA_SERVER"]
    crashed = False

    async def run() -> None:
        nonlocal crashed
        shutdown = trio.Event()

        def stop_requested() -> None:
            nonlocal crashed
            if server.stopped.is_set():
                # The server crashed after its start: end this worker alone, the supervisor
                # starts another.
                crashed = True
                shutdown.set()
            elif orphaned(supervisor_pid):
                shutdown.set()
            else:  # `POST /api/server/stop`: the whole deployment of this host stops
                os.kill(supervisor_pid, signal.SIGTERM)

        server.shutdown_callback = stop_requested

        def stop() -> None:
            server.stopping.set()  # new requests are refused at once; those in flight drain
            shutdown.set()

        async with trio.open_nursery() as nursery:

            async def serving(*, task_status: trio.TaskStatus[list[str]]) -> None:
                try:
                    await serve(app, config,
                                shutdown_trigger=partial(server.drain_when, shutdown),
                                task_status=task_status)
                finally:
                    nursery.cancel_scope.cancel()

            nursery.start_soon(_set_on_signal, stop)
            nursery.start_soon(exit_when_orphaned, supervisor_pid, stop)
            await nursery.start(serving)
            # hypercorn reports started once the lifespan startup ended, even when it failed
            # (the failure arrives just after): only a running server is ready.
            if server.ready.is_set():
                report({"ready": True})

    try:
        trio.run(run)
    except BaseException:
        # hypercorn wraps a failed start in its own lifespan error; the app kept the cause.
        failed = app.config.get("ELIZA_STARTUP_ERROR")
        if not isinstance(failed, StartupError):
            raise
        report({"failed": str(failed)})
        return EXIT_FAILED_START
    return 1 if crashed else 0


def _report(fd: int, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the supervisor is gone: nobody to tell
        os.write(fd, json.dumps(message).encode() + b"\n")


async def _set_on_signal(stop: Callable[[], None]) -> None:
    # Kept open until the worker ends: a second signal (Ctrl-C reaches the whole process
    # group, then the supervisor sends SIGTERM) must not kill it in the middle of its drain.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            stop()


if __name__ == "__main__":
    sys.exit(main())
