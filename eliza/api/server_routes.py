"""`/api/server/*` (and its alias `/api/runtime/*`): health, status, logs, stop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import trio
from quart import Blueprint, Response, request

from .. import __version__, metrics
from ..clock import now_ms
from ..logs import LEVELS, LogEntry
from .common import json_body, server
from .contract import declare, unwrapped
from .guards import require_trusted_client

bp = Blueprint("server", __name__)

MAX_LOGS = 1000


_TIME = {"type": "string", "description": "ISO 8601, UTC"}
HEALTH = unwrapped({"type": "object", "required": ["status", "version", "timestamp",
                                                  "dependencies"],
                    "properties": {"status": {"enum": ["OK", "DEGRADED"]},
                                   "version": {"type": "string"}, "timestamp": _TIME,
                                   "dependencies": {"type": "object"}}})
_MESSAGE = unwrapped({"type": "object", "required": ["message"],
                      "properties": {"message": {"type": "string"}}})


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@bp.get("/ping")
@declare("Liveness: pong and the time", tags="server", answers=unwrapped({
    "type": "object", "required": ["pong", "timestamp"],
    "properties": {"pong": {"const": True}, "timestamp": {"type": "integer"}}}))
async def ping() -> Any:
    return {"pong": True, "timestamp": now_ms()}


@bp.get("/hello")
@declare("Hello World", tags="server", answers=_MESSAGE)
async def hello() -> Any:
    return {"message": "Hello World!"}


@bp.get("/status")
@declare("Status and the number of running agents", tags="server", answers=unwrapped({
    "type": "object", "required": ["status", "agentCount", "timestamp"],
    "properties": {"status": {"const": "ok"}, "agentCount": {"type": "integer", "minimum": 0},
                   "timestamp": _TIME}}))
async def status() -> Any:
    return {"status": "ok", "agentCount": len(server().agents.runtimes()), "timestamp": iso_now()}


def health_body() -> tuple[dict[str, Any], int]:
    running = len(server().agents.runtimes())
    body = {
        "status": "OK" if running else "DEGRADED",
        "version": __version__,
        "timestamp": iso_now(),
        "dependencies": {"agents": "healthy" if running else "no_agents"},
    }
    return body, 200 if running else 503


@bp.get("/health")
@declare("Health (503 while no agent runs)", tags="server", answers=HEALTH,
         others={503: ("DEGRADED: no agent runs (or the server is stopping: the error "
                       "envelope)", {"application/json": {"anyOf": [
                           HEALTH["application/json"],
                           {"$ref": "#/components/schemas/Error"}]}})})
async def health() -> Any:
    return health_body()


@bp.post("/stop")
@declare("Stop the server (local clients only while auth is off)", tags="server",
         answers=_MESSAGE)
async def stop() -> Any:
    require_trusted_client()
    server().request_shutdown()
    return {"message": "Server stopping..."}


@bp.route("/logs", methods=["GET", "POST"])
@declare("Recent log entries (POST also appends client entries)", tags="server",
         answers=unwrapped({"type": "object", "required": ["logs", "count", "total"],
                            "properties": {"logs": {"type": "array"},
                                           "count": {"type": "integer"},
                                           "total": {"type": "integer"}}}))
async def logs() -> Any:
    srv = server()
    params: dict[str, Any] = dict(request.args)
    if request.method == "POST":
        body = await json_body()
        for item in body.get("logs") or []:
            if isinstance(item, dict) and isinstance(item.get("msg", item.get("message")), str):
                srv.logs.append(LogEntry(
                    time=int(item.get("time") or now_ms()),
                    level=_level(item.get("level"), 30),
                    msg=str(item.get("msg", item.get("message"))),
                    agent_name=item.get("agentName"),
                    agent_id=item.get("agentId"),
                ))
        params.update({k: v for k, v in body.items() if k != "logs"})
    since = _int(params.get("since"), now_ms() - 3600_000)
    level_name = str(params.get("level") or "all").lower()
    agent_name = params.get("agentName")
    agent_id = params.get("agentId")
    limit = max(1, min(MAX_LOGS, _int(params.get("limit"), 100)))
    entries = [e for e in srv.logs if e.time >= since]
    total = len(entries)
    if level_name != "all":
        wanted = LEVELS.get(level_name, 30)
        entries = [e for e in entries if e.level == wanted]
    entries = _of(entries, "agent_name", agent_name)
    entries = _of(entries, "agent_id", agent_id)
    entries = entries[-limit:]
    return {
        "logs": [e.to_dict() for e in entries],
        "count": len(entries),
        "total": total,
        "requestedLevel": level_name,
        "level": level_name,
        "agentName": agent_name or "all",
        "agentId": agent_id or "all",
        "levels": list(LEVELS),
    }


def _of(entries: list[LogEntry], field: str, wanted: Any) -> list[LogEntry]:
    """The entries whose `field` is `wanted` (`all`: every one). While fewer than one in ten
    entries carries the field at all, entries without it are kept too, as the original
    server does (a log that names no agents would otherwise answer nothing)."""
    if not wanted or wanted == "all":
        return entries
    tagged = sum(1 for e in entries if getattr(e, field) is not None)
    lenient = tagged * 10 < len(entries)
    return [e for e in entries
            if getattr(e, field) == wanted or (lenient and getattr(e, field) is None)]


@bp.delete("/logs")
@declare("Clear the log buffer", tags="server", answers=unwrapped({
    "type": "object", "required": ["status", "message"],
    "properties": {"status": {"const": "success"}, "message": {"type": "string"}}}))
async def clear_logs() -> Any:
    server().logs.clear()
    return {"status": "success", "message": "Logs cleared successfully"}


@bp.get("/debug/servers")
@declare("The message servers (debug)", tags="server")
async def debug_servers() -> Any:
    servers = await server().messaging.list_servers()
    return {"success": True, "servers": servers, "count": len(servers), "data": {
        "servers": servers, "count": len(servers)}}


@bp.get("/debug/metrics")
@declare("Metrics in the Prometheus text format (all workers of this host)", tags="server",
         answers={metrics.CONTENT_TYPE: {"type": "string"}},
         description="Requests by route and status with their latency, agent turns, model "
                     "calls and their latency, open sockets, bus delivery lag and store "
                     "latency. Under several workers, any worker answers for all of them; "
                     "scrape each host on its own.")
async def debug_metrics() -> Any:
    # Reads every worker's metrics file: off the event loop.
    body = await trio.to_thread.run_sync(metrics.exposition)
    return Response(body, content_type=metrics.CONTENT_TYPE)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _level(value: Any, default: int) -> int:
    if isinstance(value, int):
        return value
    return LEVELS.get(str(value).lower(), default)
