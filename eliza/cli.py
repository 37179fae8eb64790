"""The `eliza` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from functools import partial

import trio

from .settings import Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eliza", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server (hypercorn's trio worker)")
    serve.add_argument("--host", help="address to bind (default SERVER_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PORT, SERVER_PORT or 3000)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument("--workers", type=int,
                       help="worker processes (default ELIZA_WORKERS or 1); more than one "
                            "needs PostgreSQL (POSTGRES_URL) and a shared bus (ELIZA_BUS)")
    ui = commands.add_parser("ui", help="manage the official ElizaOS web UI")
    ui_commands = ui.add_subparsers(dest="ui_command", required=True)
    ui_install = ui_commands.add_parser("install", help="fetch @elizaos/client into the data dir")
    ui_install.add_argument("--version", default=None, help="package version (default pinned)")
    plugins = commands.add_parser("plugins", help="list the plugins a server would load")
    plugins.add_argument("--json", action="store_true", help="print JSON")
    from . import dbtool
    from .client import commands as client_commands  # chat, agents, logs (the SDK)

    dbtool.add_parser(commands)

    client_commands.add_parsers(commands)
    args = parser.parse_args(argv)
    if args.command in client_commands.COMMANDS:  # talks to a server: no local settings
        return client_commands.run(args)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"eliza: bad setting: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        changes: dict[str, object] = {}
        if args.host:
            changes["host"] = args.host
        if args.port:
            changes["port"] = args.port
        workers = settings.cluster.workers if args.workers is None else args.workers
        return serve_workers(settings.with_overrides(**changes), workers,
                             access_log=args.access_log)
    if args.command == "ui":
        return install_web_ui(settings, args.version)
    if args.command == "db":
        return dbtool.run(args, settings)
    if args.command == "plugins":
        from .plugin_host import print_plugins

        return print_plugins(settings, as_json=args.json)
    return 1


def serve_workers(settings: Settings, workers: int, *, access_log: bool = False) -> int:
    """One worker in this process, or a supervisor keeping `workers` processes serving."""
    if workers < 1:
        print(f"eliza: --workers must be at least 1: {workers}", file=sys.stderr)
        return 2
    if workers == 1:
        return serve_forever(settings, access_log=access_log)
    from .cluster.supervisor import refusal, run_supervisor

    problem = refusal(settings)
    if problem is not None:
        print(f"eliza: {problem}", file=sys.stderr)
        return 2
    return run_supervisor(settings, workers, access_log=access_log,
                          stop_timeout=settings.cluster.stop_timeout)


def serve_forever(settings: Settings, *, access_log: bool = False) -> int:
    """Serve until SIGINT/SIGTERM or `POST /api/server/stop`, then shut down gracefully."""
    from hypercorn.config import Config
    from hypercorn.trio import serve

    from .app import create_app
    from .errors import StartupError
    from .server import AgentServer

    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.accesslog = "-" if access_log else None
    config.loglevel = logging.getLevelName(settings.log_level)
    config.graceful_timeout = 5.0
    server = AgentServer(settings)
    app = create_app(settings, server)

    async def run() -> None:
        shutdown = trio.Event()

        def stop() -> None:
            server.stopping.set()  # new requests are refused at once; those in flight drain
            shutdown.set()

        server.shutdown_callback = stop
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_set_on_signal, stop)
            print(f"eliza: serving on http://{settings.host}:{settings.port} "
                  f"(data in {settings.data_dir})", file=sys.stderr)
            await serve(app, config, shutdown_trigger=partial(server.drain_when, shutdown))
            nursery.cancel_scope.cancel()

    try:
        trio.run(run)
    except BaseException:
        # hypercorn wraps a failed start in its own lifespan error; the app kept the cause.
        failed = app.config.get("ELIZA_STARTUP_ERROR")
        if not isinstance(failed, StartupError):
            raise
        print(f"eliza: {failed}", file=sys.stderr)
        return 1
    return 0


def install_web_ui(settings: Settings, version: str | None) -> int:
    from . import webui

    chosen = version or webui.UI_VERSION
    print(f"eliza: installing {webui.UI_PACKAGE}@{chosen} into {settings.ui_dir}", file=sys.stderr)
    try:
        webui.install_ui(settings.ui_dir, chosen)
    except Exception as exc:  # network, integrity or archive problems: say which
        print(f"eliza: could not install the web UI: {exc}", file=sys.stderr)
        return 1
    print(f"eliza: web UI installed; open http://{settings.host}:{settings.port}/",
          file=sys.stderr)
    return 0


async def _set_on_signal(stop: Callable[[], None]) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            stop()
            return


if __name__ == "__main__":
    sys.exit(main())
