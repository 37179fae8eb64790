"""The Quart-Trio application. `hypercorn -k trio eliza.app:app` serves the module-level
`app`; `create_app(settings)` builds one for tests and embedding.

Importing this module is cheap and has no side effects: the module-level `app` reads its
settings (environment, `.env` files) and builds the AgentServer (plugins, store) only when
it starts serving, so a bad setting fails the start, not the import.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import sniffio
import trio
from quart import Quart, Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from . import webui
from .errors import ApiError, NotFound, StartupError, error_for_status
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
    # Bounds every HTTP request's receive and send (eliza/stalls.py) once settings are known.
    stall_guard: Callable[[Any, Any], tuple[Any, Any]] | None = None

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
        if self.stall_guard is not None and scope["type"] == "http":
            receive, send = self.stall_guard(receive, send)
        if self.fastpath is not None:
            route = self.fastpath.lookup(scope)
            if route is not None:
                await self.fastpath.serve(scope, route, send)
                return
        await super().__call__(scope, receive, send)

    def log_exception(self, exception_info: Any) -> None:
        # A start the operator can fix is reported once, in one line, by whoever started
        # the server (`eliza serve`, hypercorn's own lifespan error): no traceback here.
        if isinstance(exception_info[1], StartupError):
            return
        super().log_exception(exception_info)


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
        _configure_logging()
        _build(app, settings, server)

    @app.before_serving
    async def start_server() -> None:
        running = app.config.get("ELIZA_SERVER")
        if running is None:
            _configure_logging()
            running = _build(app, _settings_from_env(), None)
        try:
            await app.nursery.start(_run_server, running)
        except StartupError as exc:
            app.config["ELIZA_STARTUP_ERROR"] = exc
            raise

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
    app.config.update(ELIZA_SERVER=server, MAX_CONTENT_LENGTH=settings.max_upload_bytes,
                      # Bounds get_data (JSON bodies) as a whole; guard_http bounds each wait
                      # for a piece of any body, so slow uploads that progress keep going.
                      BODY_TIMEOUT=settings.body_timeout)
    app.config[SEND_TIMEOUT_CONFIG] = settings.send_timeout  # the websocket writers read it
    app.stall_guard = partial(guard_http, send_timeout=settings.send_timeout,
                              body_timeout=settings.body_timeout)
    (security := Security(settings)).install(app)
    app.config["ELIZA_SECURITY"] = security  # the media routes hit its upload/file limiters
    register_blueprints(app)
    server.realtime.sio.register(app)
    _install_error_handlers(app, settings)
    # Last: from here on requests take the fast path, so the rest must be in place.
    app.fastpath = FastPath(server, security)
    return server


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


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    elif root.level > logging.INFO:
        root.setLevel(logging.INFO)
    # The PostgreSQL store logs an outage once; the pool would log every reconnect attempt.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


__all__ = ["ElizaApp", "NotFound", "create_app"]

app = create_app()
