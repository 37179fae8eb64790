"""Plugin routes and panels, as ElizaOS serves them, with the agent in the path honoured.

A plugin's :class:`~eliza.Route` answers at
- `/api/agents/<agentId>/plugins/<plugin>/<path>`: the agent in the path is honoured (it
  must be running and enable the plugin; ElizaOS ignores it);
- `/api/<plugin>/<path>` and `/<plugin>/<path>`, with `?agentId=`, or without it for the
  first running agent that enables the plugin.

The agent-scoped form is an ordinary blueprint route: its static `plugins` segment cannot
collide with the agents blueprint. The global forms are dispatched by a `before_request`
hook that acts only when the first path segment names a plugin and is not a core prefix
(`/api/agents`, `/api/server`, `/socket.io`, `/media`, `/healthz`, the UI's pages, ...), so a
plugin never shadows a core route and unknown paths keep their usual 404. The API-key
middleware covers `/api/*`; root-level plugin paths get the same key check here (ElizaOS
leaves them open).

Within a plugin, paths are matched by a werkzeug `Map` built once (`<name>` placeholders;
ElizaOS's `:name` and trailing `/*` are translated). A handler that raises an `ApiError` or
an HTTP exception answers with it; any other exception is logged and answers a JSON 500.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import trio
from quart import Blueprint, Quart, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed as RoutingMethodNotAllowed
from werkzeug.routing import Map, Rule

from ..errors import AgentNotFound, ApiError, InvalidId, NotFound, Unauthorized
from ..ids import validate_uuid
from ..plugin_api import HTTP_METHODS, Panel, Route
from ..plugins import is_builtin
from .common import ok, server, uuid_param
from .contract import Contract, declare, declare_path
from .inputs import Spec, Text

if TYPE_CHECKING:
    from ..runtime.agent import AgentRuntime
    from ..server import AgentServer

log = logging.getLogger(__name__)

bp = Blueprint("plugin_routes", __name__)

METHODS = sorted(HTTP_METHODS)
PANEL_PREFIX = "/_panels"
HANDLER_TIMEOUT = 60.0  # seconds a plugin route handler may take
# First path segments a plugin may never take at the root: core mounts, and the web UI's
# client-side pages (chat, settings, ...), whatever the url map holds when the router is built.
RESERVED_ROOT = frozenset({
    "api", "socket.io", "media", "healthz", "health", "static", "assets", "favicon.ico",
    "chat", "settings", "agents", "profile", "dashboard", "login", "register", "admin", "home",
    "about",
})
# `/api/<name>` domains the core only holds a place for (eliza/api/tee.py answers 501): a
# plugin of that name serves them instead.
LEFT_TO_PLUGINS = frozenset({"tee"})
_ELIZAOS_PARAM = re.compile(r"(?<=/):([A-Za-z_][A-Za-z0-9_]*)")


class MethodNotAllowed(ApiError):
    status = 405
    code = "METHOD_NOT_ALLOWED"


class PluginTimeout(ApiError):
    status = 504
    code = "PLUGIN_TIMEOUT"


@dataclass
class PluginEntry:
    """One plugin's routes and inline panels, with the map that matches them."""

    name: str
    routes: list[Route]
    panels: list[Panel]
    url_map: Map = field(default_factory=lambda: Map(strict_slashes=False, merge_slashes=False))


@dataclass
class PluginRouter:
    plugins: dict[str, PluginEntry]
    global_names: frozenset[str]  # plugins reachable at `/<plugin>` and `/api/<plugin>`


def _werkzeug_path(path: str) -> str:
    path = _ELIZAOS_PARAM.sub(r"<\1>", path)
    if path.endswith("/*"):
        path = path[:-1] + "<path:wildcard>"
    return path


def build_router(app: Quart, srv: AgentServer) -> PluginRouter:
    plugins: dict[str, PluginEntry] = {}
    for name in sorted(set(srv.routes) | set(srv.panels)):
        entry = PluginEntry(name, [], [p for p in srv.panels.get(name, []) if p.html])
        for route in srv.routes.get(name, []):
            try:
                entry.url_map.add(Rule(_werkzeug_path(route.path), methods=[route.method],
                                       endpoint=("route", len(entry.routes))))
            except ValueError as exc:  # a malformed placeholder: skip it, keep the rest
                log.error("plugin %s: route %s %s not served: %s", name, route.method,
                          route.path, exc)
                continue
            entry.routes.append(route)
        for index in range(len(entry.panels)):
            entry.url_map.add(Rule(f"{PANEL_PREFIX}/{index}", methods=["GET"],
                                   endpoint=("panel", index)))
        if entry.routes or entry.panels:
            plugins[name] = entry
    reserved_api, reserved_root = set(), set(RESERVED_ROOT)
    for rule in app.url_map.iter_rules():
        parts = rule.rule.split("/")
        if len(parts) > 1 and not parts[1].startswith("<"):
            reserved_root.add(parts[1])
        if parts[1:2] == ["api"] and len(parts) > 2 and not parts[2].startswith("<"):
            reserved_api.add(parts[2])
    reserved_api -= LEFT_TO_PLUGINS
    global_names = set()
    for name in plugins:
        if name in reserved_api or name in reserved_root:
            log.warning("plugin %s shares its name with a core path: its routes answer only "
                        "at /api/agents/<agentId>/plugins/%s/...", name, name)
        else:
            global_names.add(name)
    return PluginRouter(plugins, frozenset(global_names))


def router() -> PluginRouter:
    """The router of the running app, built once the server has collected every plugin's
    contributions (requests are only served after that)."""
    cached = current_app.extensions.get("eliza_plugin_router")
    if isinstance(cached, PluginRouter):
        return cached
    srv = server()
    built = build_router(current_app, srv)
    if srv.ready.is_set():
        current_app.extensions["eliza_plugin_router"] = built
    return built


def enables(runtime: AgentRuntime, plugin: str) -> bool:
    return is_builtin(plugin) or plugin in runtime.enabled_plugins


def _runtime_for(srv: AgentServer, plugin: str, agent_id: str | None) -> AgentRuntime:
    if agent_id is None:
        for candidate in srv.agents.runtimes():
            if enables(candidate, plugin):
                return candidate
        raise NotFound(f"No running agent enables plugin {plugin!r}")
    valid = validate_uuid(agent_id)
    if valid is None:
        raise InvalidId("Invalid agent ID format")
    runtime = srv.agents.require_runtime(valid)
    if not enables(runtime, plugin):
        raise NotFound(f"Plugin {plugin!r} is not enabled for agent {runtime.name}")
    return runtime


async def serve(entry: PluginEntry, path: str, runtime: AgentRuntime) -> Response:
    method = request.method
    try:
        (kind, index), args = entry.url_map.bind("localhost").match(path or "/", method=method)
    except RoutingMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.valid_methods or []))
        raise MethodNotAllowed(f"{method} is not allowed on {path}",
                               headers={"Allow": allowed}) from None
    except HTTPException:
        raise NotFound(f"Plugin {entry.name} has no route {method} {path}") from None
    if kind == "panel":
        html = entry.panels[index].html or ""
        return Response(html, content_type="text/html; charset=utf-8")
    route = entry.routes[index]
    request.view_args = dict(args)  # the handler reads its path parameters here
    try:
        # Plugin code: under a deadline, so one hung handler cannot pin a connection for
        # ever (a streamed body is returned at once and carries its own deadlines).
        with trio.fail_after(HANDLER_TIMEOUT):
            result = await route.handler(
                request._get_current_object(), runtime)  # type: ignore[attr-defined]
        # Inside the `try`: a value Quart cannot turn into a response is the plugin's bug too.
        response = await current_app.make_response(result)
    except (ApiError, HTTPException):
        raise  # the plugin chose its answer; the app's error handlers render it
    except trio.TooSlowError:
        runtime.log.error("plugin %s route %s %s took over %s s", entry.name, method,
                          route.path, HANDLER_TIMEOUT)
        raise PluginTimeout("Plugin route timed out",
                            details={"plugin": entry.name, "route": route.path}) from None
    except Exception:
        runtime.log.error("plugin %s route %s %s failed", entry.name, method, route.path,
                          exc_info=True)
        raise ApiError("Internal server error",
                       details={"plugin": entry.name, "route": route.path}) from None
    assert isinstance(response, Response)  # Quart makes its own Response class
    return response


# -- agent-scoped routes and panels ---------------------------------------------------------

# Declared generically: which paths, methods and bodies exist depends on the plugins loaded
# (a plugin's Route may come to carry its own schema; none does yet).
_PLUGIN_PATH = {
    "plugin": Text(description="the plugin's name"),
    "rest": Text(description="the route's path within the plugin; may contain `/`"),
}
_PLUGIN_ANSWER = {"*/*": {"description": "whatever the plugin's handler answers"}}
_REFUSED_BY_EITHER = {"application/json": {"$ref": "#/components/schemas/Error"}, "*/*": {}}
_PLUGIN_ABOUT = ("Served by a plugin's Route when one matches the method and path (else 404 "
                 "NOT_FOUND, or 405 METHOD_NOT_ALLOWED with Allow); its handler reads the "
                 "body as it likes (any JSON, or none) and has 60 s to answer (else 504 "
                 "PLUGIN_TIMEOUT). Plugin routes may declare their own inputs.")


@bp.route("/api/agents/<agent_id>/plugins/<plugin>", methods=METHODS,
          defaults={"rest": ""})
@bp.route("/api/agents/<agent_id>/plugins/<plugin>/<path:rest>", methods=METHODS)
@declare("A plugin's route, for this agent", tags="plugins", path=_PLUGIN_PATH,
         body=Spec(description="any JSON, as the plugin's route takes it"),
         answers=_PLUGIN_ANSWER, errors={504: "PLUGIN_TIMEOUT: the handler took too long"},
         # A plugin's handler answers what status it likes (201, 204, its own 4XX...).
         others={"4XX": ("refused: by the core (in the error envelope) or by the plugin's "
                         "handler (as it likes)", _REFUSED_BY_EITHER),
                 "default": ("whatever the plugin's handler answers", {"*/*": {}})},
         description="The agent must be running and enable the plugin (else 404). "
                     + _PLUGIN_ABOUT)
async def agent_plugin_route(agent_id: str, plugin: str, rest: str) -> Any:
    srv = server()
    entry = router().plugins.get(plugin)
    runtime = _runtime_for(srv, plugin, uuid_param(agent_id))
    if entry is None:
        raise NotFound(f"Plugin {plugin!r} has no routes")
    return await serve(entry, "/" + rest, runtime)


@bp.get("/api/agents/<agent_id>/panels")
@declare("The agent's plugin panels", tags="plugins",
         description="A bare array [{name, path}] of the panels of the plugins the agent "
                     "enables, and their public named GET routes without parameters.")
async def agent_panels(agent_id: str) -> Any:
    """A bare array `[{name, path}]` (as the web UI reads it), from Panel objects and, as in
    ElizaOS, from public named GET routes (those without path parameters: they cannot be
    opened as is)."""
    srv = server()
    agent_id = uuid_param(agent_id)
    try:
        record = srv.agents.get(agent_id)
    except AgentNotFound as missing:  # an agents route: 404 NOT_FOUND, as the original
        raise NotFound(missing.message) from None
    runtime = srv.agents.runtime(agent_id)
    enabled = (runtime.enabled_plugins if runtime is not None
               else srv.enabled_plugins(srv.secrets.decrypt_character(record.character)))
    panels = []
    for name, entry in router().plugins.items():
        if not (is_builtin(name) or name in enabled):
            continue
        base = f"/api/agents/{agent_id}/plugins/{name}"
        inline = iter(range(len(entry.panels)))
        for panel in srv.panels.get(name, []):
            path = panel.path if panel.path is not None else f"{PANEL_PREFIX}/{next(inline)}"
            panels.append({"name": panel.name, "path": _with_agent(base + path, agent_id)})
        for route in entry.routes:
            if route.public and route.name and route.method == "GET" and "<" not in (
                _werkzeug_path(route.path)
            ):
                panels.append({"name": route.name,
                               "path": _with_agent(base + route.path, agent_id)})
    return ok(panels)


def _with_agent(path: str, agent_id: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}agentId={agent_id}"


# -- global routes: `/<plugin>/...` and `/api/<plugin>/...` ---------------------------------


async def dispatch_global() -> Response | None:
    """`before_request`: serve a global plugin path, or let normal routing go on."""
    path = request.path
    under_api = path.startswith("/api/")
    plugin, _, rest = path[5 if under_api else 1:].partition("/")
    plugins = router()
    if plugin not in plugins.global_names:
        return None
    if not under_api:
        _check_api_key()  # /api/* was checked by the security middleware already
    runtime = _runtime_for(server(), plugin, request.args.get("agentId"))
    return await serve(plugins.plugins[plugin], "/" + rest, runtime)


def _check_api_key() -> None:
    # The middleware's rule, so every path reads a repeated X-API-KEY the same way.
    security = current_app.config["ELIZA_SECURITY"]
    if not security.check_api_key(request.headers.getlist("X-API-KEY")):
        raise Unauthorized("Unauthorized: Invalid or missing X-API-KEY")


def install(app: Quart) -> None:
    """Register the blueprint and the global dispatcher. The dispatcher must come after the
    security middleware's `before_request` (it relies on its key check for /api paths), so
    call this after `Security.install`, as `create_app` does."""
    app.register_blueprint(bp)
    app.before_request(dispatch_global)
    scoped: Contract = agent_plugin_route.__contract__  # type: ignore[attr-defined]
    contract = replace(
        scoped, summary="A plugin's route, for `?agentId=` or the first agent enabling it",
        query={"agentId": Text(description="the agent (a UUID); else the first running "
                                            "agent that enables the plugin")},
        description="Only for a plugin whose name is not a core path (`/api/agents`, ...); "
                    "the same routes answer at `/<plugin>/<path>` (API key checked there "
                    "too). " + _PLUGIN_ABOUT)
    for path in ("/api/<plugin>", "/api/<plugin>/<path:rest>"):
        declare_path(app, path, METHODS, contract, "plugin_routes.dispatch_global")
