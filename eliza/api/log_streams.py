"""`GET /api/server/logs/stream` and `GET /api/agents/:agentId/logs/stream`: the log stream
as Server-Sent Events, the entries `/api/server/logs` lists and the `log_stream` socket
event carries, as they are logged (eliza/log_feed.py).

Each entry is an `event: log` whose data is the entry (`{time, level, msg, agentName?,
agentId?}`). A comment line (`: heartbeat`) goes out every `heartbeat` seconds without an
entry, so proxies keep the connection and a gone client is noticed. The stream ends with
`event: dropped` when the client read too slowly (its buffer filled), or `event: end` when
the server stops; a client that hangs up ends it at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import trio
from quart import Blueprint, Response, request

from ..errors import ServiceUnavailable
from ..log_feed import Filter, LogFeed
from ..logs import LEVELS
from ..realtime.log_stream import matches
from .common import query_int, server, uuid_param
from .contract import declare
from .inputs import Integer, Text, invalid

bp = Blueprint("log_streams", __name__)

HEARTBEAT = 15  # seconds, by default
LEVEL_NAMES = ("all", *LEVELS)
_STREAM = {"text/event-stream": {"type": "string", "description": (
    "`event: log` per entry (data: {time, level, msg, agentName?, agentId?}), `: heartbeat` "
    "comments, then `event: end` (server stopping) or `event: dropped` (read too slowly)")}}
_QUERY = {
    "level": Text(max_chars=20, description="this level and the more severe ones: "
                  + ", ".join(LEVEL_NAMES) + " (default all)"),
    "heartbeat": Integer(clamp=(1, 300), description=f"seconds between heartbeat comments "
                         f"(default {HEARTBEAT})"),
}


def _level_filter() -> str:
    level = (request.args.get("level") or "all").lower()
    if level not in LEVEL_NAMES:
        raise invalid("level", f"must be one of {', '.join(LEVEL_NAMES)}")
    return level


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


async def _events(feed: LogFeed, wanted: Filter, heartbeat: float) -> AsyncIterator[bytes]:
    """The stream's bytes. Cancel scopes never span a `yield`; the subscription is ended
    however the stream ends (Quart closes the generator when the client hangs up)."""
    if feed.closed:
        yield _event("end", {"reason": "the server is stopping"})
        return
    subscription = feed.subscribe(wanted)
    try:
        yield b": connected\n\n"
        while True:
            entry = None
            with trio.move_on_after(heartbeat):
                try:
                    entry = await subscription.receive.receive()
                except trio.EndOfChannel:
                    break
            yield b": heartbeat\n\n" if entry is None else _event("log", entry)
        if subscription.dropped:
            yield _event("dropped", {"reason": "the client read too slowly; reconnect"})
        else:
            yield _event("end", {"reason": "the server is stopping"})
    finally:
        feed.unsubscribe(subscription)


def _stream(wanted: Filter) -> Response:
    feed = server().log_feed
    if feed.closed:
        raise ServiceUnavailable("The server is stopping")
    heartbeat = query_int("heartbeat", HEARTBEAT, lo=1, hi=300)
    response = Response(_events(feed, wanted, heartbeat), content_type="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    response.timeout = None  # Quart cuts responses at 60 s; this one lasts
    return response


@bp.get("/api/server/logs/stream")
@bp.get("/api/runtime/logs/stream")
@declare("The log stream, as Server-Sent Events", tags="server", answers=_STREAM,
         query={**_QUERY, "agentName": Text(max_chars=200, description="only this agent's"),
                "agentId": Text(max_chars=36, description="only this agent's (a UUID)")},
         description="Every log entry as it is logged (this worker's and those the "
                     "deployment's other workers relay), filtered by level and agent.")
async def server_log_stream() -> Response:
    filters = {"level": _level_filter(), "agentName": request.args.get("agentName")}
    raw_agent = request.args.get("agentId")
    agent_id = uuid_param(raw_agent) if raw_agent else None

    def wanted(entry: dict[str, Any]) -> bool:
        return matches(entry, filters) and (agent_id is None or entry.get("agentId") == agent_id)

    return _stream(wanted)


@bp.get("/api/agents/<agent_id>/logs/stream")
@declare("The agent's log stream, as Server-Sent Events", tags="logs", answers=_STREAM,
         query=_QUERY, description="The log entries this agent logs (404 for an unknown "
                                   "agent; it need not be running).")
async def agent_log_stream(agent_id: str) -> Response:
    server().agents.get(agent_id)
    filters = {"level": _level_filter()}

    def wanted(entry: dict[str, Any]) -> bool:
        return entry.get("agentId") == agent_id and matches(entry, filters)

    return _stream(wanted)
