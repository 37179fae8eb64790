"""The Quart-Trio application. `hypercorn -k trio eliza.app:app` serves the module-level
`app`; `create_app(settings)` builds one for tests and embedding.

Importing this module is cheap and has no side effects: the module-level `app` reads its
settings (environment, `.env` files) and builds the AgentServer (plugins, store) only when
it starts serving, so a bad setting fails the start, not the import.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import uuid
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import sniffio
import trio
from quart import Quart, Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from . import metrics, webui
from .cluster.orphan import leave_when_orphaned
from .errors import (
    ApiError,
    NotFound,
    RunsElsewhere,
    ServiceUnavailable,
    StartupError,
    error_for_status,
)
from .settings import Settings, SettingsError

if TYPE_CHECKING:
    from .fastpath import FastPath
    from .server import AgentServer

log = logging.getLogger(__name__)

WRONG_WORKER = (
    "eliza runs on Trio: start it with `hypercorn -k trio eliza.app:app` "
    "or `eliza serve` (hypercorn's default asyncio worker cannot run it)"
)

class ElizaApp(QuartTrio):
    """QuartTrio that says how to start it when run under an asyncio worker, and answers
    the hottest read-only routes through the fast path (eliza/fastpath.py)."""

    fastpath: FastPath | None = None
    # The server's `stopping` event once it is built: set, every new request is refused.
    stopping: trio.Event | None = None
    # Bounds every HTTP request's receive and send (eliza/stalls.py) once settings are known.
    stall_guard: Callable[[Any, Any], tuple[Any, Any]] | None = None
    # ELIZA_CONTRACT_CHECK: wraps each HTTP answer's send to check it against the contract.
    contract_check: Callable[[Any, Any], Any] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            library = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            library = "unknown"
        if library != "trio":
            if scope["type"] == "lifespan":
                await receive()
                await send({"type": "lifespan.startup.failed", "message": WRONG_WORKER})
                return
            raise RuntimeError(WRONG_WORKER)
        if self.stopping is not None and self.stopping.is_set() and scope["type"] != "lifespan":
            await _refuse_while_stopping(scope, receive, send)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if self.stall_guard is not None:
            receive, send = self.stall_guard(receive, send)
        if self.contract_check is not None:
            send = self.contract_check(scope, send)
        fast = self.fastpath
        route = fast.lookup(scope) if fast is not None else None
        if fast is not None and route is not None:
            scope[metrics.ROUTE_KEY] = scope["path"]
            await metrics.measure_request(scope, send, partial(fast.serve, scope, route))
            return
        await metrics.measure_request(scope, send, partial(super().__call__, scope, receive))

    def log_exception(self, exception_info: Any) -> None:
        # A start the operator can fix is reported once, in one line, by whoever started
        # the server (`eliza serve`, hypercorn's own lifespan error): no traceback here.
        if isinstance(exception_info[1], StartupError):
            return
        super().log_exception(exception_info)


STOPPING_BODY = json.dumps(
    ServiceUnavailable("Server is stopping: it accepts no new requests").to_dict()).encode()
STOPPING_HEADERS = [(b"content-type", b"application/json"),
                    (b"content-length", str(len(STOPPING_BODY)).encode()),
                    (b"connection", b"close")]


async def _refuse_while_stopping(scope: Any, receive: Any, send: Any) -> None:
    """503 SERVICE_UNAVAILABLE with `Connection: close` for a request (or a websocket
    handshake) that arrives once a stop was asked for; the server only drains from then on."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 503,
                        "headers": STOPPING_HEADERS})
            await send({"type": "websocket.http.response.body", "body": STOPPING_BODY})
        else:
            await send({"type": "websocket.close", "code": 1001})
        return
    await send({"type": "http.response.start", "status": 503, "headers": STOPPING_HEADERS})
    await send({"type": "http.response.body", "body": STOPPING_BODY})


def create_app(settings: Settings | None = None, server: AgentServer | None = None) -> Quart:
    """The app. With `settings` (or a `server`, whose settings it uses) everything is built
    now; without, the settings are read and the server built when the app starts serving."""
    app = ElizaApp(__name__)
    app.config.update(
        # Streaming responses (SSE, long polls) carry their own deadlines.
        RESPONSE_TIMEOUT=None,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if server is not None and settings is None:
        settings = server.settings
    if settings is not None:
        _configure_logging(settings.log_level)
        _build(app, settings, server)

    @app.before_serving
    async def start_server() -> None:
        running = app.config.get("ELIZA_SERVER")
        if running is None:
            from_env = _settings_from_env()
            _configure_logging(from_env.log_level)
            running = _build(app, from_env, None)
        try:
            await app.nursery.start(_run_server, running)
        except StartupError as exc:
            app.config["ELIZA_STARTUP_ERROR"] = exc
            raise
        if running.settings.contract_check:  # now that the plugins' routes are in
            from .api.contract_check import checking_send, validator_of

            app.contract_check = partial(checking_send, await validator_of(app))
            log.info("checking every answer against /api/openapi.json (ELIZA_CONTRACT_CHECK)")
        parent = multiprocessing.parent_process()
        if parent is not None and parent.pid is not None:
            # A worker of `hypercorn -w N`: when its master dies, it stops (agents finish
            # their turn, leases are released) instead of holding the port and the agents.
            app.nursery.start_soon(leave_when_orphaned, parent.pid, running.aclose)
        if running.settings.cluster.shared:
            await running.nursery.start(_serve_cluster, app, running)

    @app.after_serving
    async def stop_server() -> None:
        running = app.config.get("ELIZA_SERVER")
        if running is not None:
            await running.aclose()

    return app


def _build(app: ElizaApp, settings: Settings, server: AgentServer | None) -> AgentServer:
    """Everything that needs the settings: the server, security, routes, error handlers.
    It may run in the lifespan startup: Quart takes routes and hooks at any time, and no
    request arrives before the startup completes. The order of the before-request hooks
    matters (see `plugin_routes.install`), and is the same either way."""
    # Imported here: they pull in the store driver and the plugin machinery, which an
    # import of this module (hypercorn's, the tests') must not pay for.
    from .api import register_blueprints
    from .fastpath import FastPath
    from .security.middleware import Security
    from .server import AgentServer
    from .stalls import SEND_TIMEOUT_CONFIG, guard_http

    server = server or AgentServer(settings)
    app.stopping = server.stopping
    app.config.update(ELIZA_SERVER=server, MAX_CONTENT_LENGTH=settings.max_upload_bytes,
                      # Bounds get_data (JSON bodies) as a whole; guard_http bounds each wait
                      # for a piece of any body, so slow uploads that progress keep going.
                      BODY_TIMEOUT=settings.body_timeout)
    app.config[SEND_TIMEOUT_CONFIG] = settings.send_timeout  # the websocket writers read it
    app.stall_guard = partial(guard_http, send_timeout=settings.send_timeout,
                              body_timeout=settings.body_timeout)
    app.before_request(_note_route)  # first: requests refused by the next hooks count too
    (security := Security(settings, server.rate_sync)).install(app)
    app.config["ELIZA_SECURITY"] = security  # the media routes hit its upload/file limiters
    register_blueprints(app)
    server.realtime.sio.register(app)
    _install_error_handlers(app, settings)
    # Last: from here on requests take the fast path, so the rest must be in place.
    app.fastpath = FastPath(server, security)
    return server


async def _note_route(*_: Any) -> None:
    """The matched route's pattern, for the request metrics (eliza/metrics.py)."""
    if request.url_rule is not None:
        scope: dict[str, Any] = request.scope  # type: ignore[assignment]  # the ASGI dict
        scope[metrics.ROUTE_KEY] = request.url_rule.rule


def _settings_from_env() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise SettingsError(f"eliza: bad setting: {exc}") from None


async def _run_server(server: AgentServer, *, task_status: trio.TaskStatus[None]) -> None:
    """Run the server; once it is up, a crash is logged loudly and ends the process
    instead of silently killing the lifespan (quart-trio would keep serving without it)."""
    try:
        await server.run(task_status=task_status)
    except Exception:
        if not server.ready.is_set():
            raise
        log.critical("the agent server crashed; shutting down", exc_info=True)
        server.shutdown_callback()


async def _serve_cluster(app: ElizaApp, server: AgentServer, *,
                         task_status: trio.TaskStatus[None]) -> None:
    """The internal listener, and the carrying of requests to the other workers."""
    from .cluster.internal import serve_cluster

    await serve_cluster(app, directory=server.workers, sio=server.realtime.sio,
                        send_timeout=server.settings.send_timeout, task_status=task_status)


async def _web_ui_fallback(settings: Settings) -> Response:
    """Non-API paths nothing else answered: the web UI's files and SPA routes."""
    if request.method not in ("GET", "HEAD"):
        return Response("Not Found", status=404, content_type="text/plain")
    if not settings.ui_enabled:
        return Response("Forbidden", status=403, content_type="text/plain")
    if not webui.installed(settings.ui_dir):
        if request.path == "/":
            return Response(webui.LANDING_PAGE, content_type="text/html")
        return Response("Client application not found", status=404, content_type="text/plain")
    return await webui.serve_ui_path(settings.ui_dir, request.path)


def _install_error_handlers(app: Quart, settings: Settings) -> None:
    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Any:
        return error.to_dict(), error.status, error.headers

    @app.errorhandler(RunsElsewhere)
    async def runs_elsewhere(error: RunsElsewhere) -> Any:
        from .cluster.internal import carry_to_worker

        try:
            return await carry_to_worker(error, deadline=settings.turn_timeout,
                                         retry_after=settings.cluster.lease_seconds)
        except ApiError as refused:
            return await api_error(refused)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Any:
        status = error.code or 500
        if status == 404 and not request.path.startswith("/api/"):
            return await _web_ui_fallback(settings)
        message = "API endpoint not found" if status == 404 else (error.description or "")
        return error_for_status(status, message).to_dict(), status

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Any:
        # The id ties the client's answer to this log line; the exception stays in the log.
        error_id = uuid.uuid4().hex[:16]
        log.error("unhandled error %s on %s %s", error_id, request.method, request.path,
                  exc_info=error)
        answer = ApiError("Internal server error", details={"errorId": error_id})
        return answer.to_dict(), 500


def _configure_logging(level: int) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        root.handlers[0].setLevel(level)  # (see LogBuffer's level in eliza/server.py)
    elif root.level > level:  # a host that configured logging (pytest) may log more
        root.setLevel(level)
    # The PostgreSQL store logs an outage once; the pool would log every reconnect attempt.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    # httpx logs every request at INFO: each one carried to another worker would be a line.
    logging.getLogger("httpx").setLevel(logging.WARNING)


__all__ = ["ElizaApp", "NotFound", "create_app"]

app = create_app()
