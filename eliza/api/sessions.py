"""`/api/messaging/sessions*`: unwrapped JSON answers as the original ElizaOS server sends
them, errors in the `{success: false, error: {code, message}}` form with the sessions' own
codes (`SESSION_NOT_FOUND`, `SESSION_EXPIRED`, ...); every bad input is 400
`VALIDATION_ERROR` (the declarations' `error_code`), worded as the original words it.
`/health` is registered before `/<session_id>` (static rules win in werkzeug anyway)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from quart import Blueprint, Response

from ..errors import AgentTurnFailed, BadRequest
from ..sessions.errors import SessionValidationError
from ..sessions.service import MAX_METADATA_CHARS, SessionService, simplify
from ..sessions.transports import TRANSPORTS, sse_stream, transport_of, wait_for_agent
from .common import json_body, query_int, server
from .contract import Cursor, check_body, declare
from .inputs import Array, Boolean, Integer, Number, Obj, OneOf, Spec, Text, Uuid
from .messaging_common import parse_cursor
from .streaming import json_listing

bp = Blueprint("sessions", __name__, url_prefix="/api/messaging/sessions")

MAX_CONTENT = 4000
DEFAULT_LIMIT = 50
MAX_LIMIT = 100


def _service() -> SessionService:
    return server().sessions


# -- the declarations: fields and wording as the original server checks them ----------------

CODE = SessionValidationError.code
TAGS = "sessions"
SESSION = {"session_id": Uuid(description="a session id (else 400 VALIDATION_ERROR)")}
UNWRAPPED = {"application/json": {"type": "object",
                                  "description": "unwrapped, as the original server answers"}}
_FORMAT = "Invalid timeout configuration: Invalid timeout configuration format"
_MINUTES = OneOf(options=(Number(), Text()), nullable=True, problem="must be a number",
                 description="minutes: a number or a numeric string")
# The timeout range depends on the server's settings: SessionService checks it (and the
# numeric strings), with the same wording.
TIMEOUT_FIELDS: dict[str, Spec] = {
    "timeoutMinutes": _MINUTES, "maxDurationMinutes": _MINUTES,
    "warningThresholdMinutes": _MINUTES, "autoRenew": Boolean(nullable=True)}
TIMEOUT = Obj(fields=TIMEOUT_FIELDS, message=_FORMAT)
_METADATA = Obj(nullable=True, message="Metadata must be an object",
                description=f"free-form, at most {MAX_METADATA_CHARS} characters as JSON")
CREATE = Obj(fields={
    # "" is absent, as the original's `!agentId` reads it (SessionService says so).
    "agentId": Uuid(empty=True, message="Invalid agent ID format"),
    "userId": Uuid(empty=True, message="Invalid user ID format"),
    "metadata": _METADATA,
    "timeoutConfig": Obj(fields=TIMEOUT_FIELDS, nullable=True, message=_FORMAT),
}, required=("agentId", "userId"), missing="Missing required fields: agentId and userId")
_ATTACHMENTS = "Attachments must be an array of {type, url, name?}"
SEND = Obj(fields={
    "content": Text(max_chars=MAX_CONTENT, blank=False,
                    message="Content is required and must be a non-empty string",
                    long_message=f"Content exceeds maximum length of {MAX_CONTENT} characters"),
    "attachments": Array(items=Obj(fields={"url": Text(), "type": Text(nullable=True),
                                           "name": Text(nullable=True)}, required=("url",)),
                         nullable=True, message=_ATTACHMENTS),
    "metadata": Obj(nullable=True, message="Metadata must be an object"),
    "transport": Text(enum=tuple(sorted(TRANSPORTS)), nullable=True,
                      message="Invalid transport '{value}'. Must be one of: http, sse, websocket",
                      description="websocket (default): answer at once, the reply comes on the "
                                  "socket; http: wait for the reply; sse: stream it"),
    # Read only without `transport` (so not checked here): sync, stream or websocket.
    "mode": Spec(description="legacy, read without `transport`: sync (= http), stream "
                             "(= sse) or websocket"),
}, required=("content",), missing="Content is required and must be a non-empty string")
PAGE = {"limit": Integer(clamp=(1, MAX_LIMIT),
                         message="Invalid pagination parameter 'limit': Must be a number"),
        "before": Cursor(), "after": Cursor()}


@bp.get("/health")
@declare("Sessions health", tags=TAGS, error_code=CODE, answers=UNWRAPPED)
async def health() -> Any:
    return await _service().health()


@bp.post("")
@declare("Create a session", tags=TAGS, body=CREATE, status=201, error_code=CODE,
         answers=UNWRAPPED)
async def create_session() -> Any:
    body = await json_body()
    created = await _service().create(body.get("agentId"), body.get("userId"),
                                      body.get("metadata"), body.get("timeoutConfig"))
    return created, 201


@bp.get("")
@declare("List the active sessions", tags=TAGS, error_code=CODE, answers=UNWRAPPED)
async def list_sessions() -> Any:
    active, _, expired = await _service().overview()
    return {"sessions": active, "total": len(active),
            "stats": {"totalSessions": len(active) + expired, "activeSessions": len(active),
                      "expiredSessions": expired}}


@bp.get("/<session_id>")
@declare("A session's state", tags=TAGS, path=SESSION, error_code=CODE, answers=UNWRAPPED)
async def get_session(session_id: str) -> Any:
    service = _service()
    return service.info(await service.get(session_id))


@bp.post("/<session_id>/messages")
@declare("Send a message in a session", tags=TAGS, path=SESSION, body=SEND, status=201,
         error_code=CODE, body_after_lookup=True,
         answers=UNWRAPPED,
         others={200: ("transport sse: the reply as Server-Sent Events",
                       {"text/event-stream": {"type": "string"}})},
         description="Body fields are checked after the session's look-up: a missing or "
                     "expired session answers 404/410 first.")
async def send_message(session_id: str) -> Any:
    service = _service()
    body = await json_body()  # parsed only: malformed JSON is refused before the look-up
    # Checks in the original's order: session exists (404), alive (410), then the content.
    # A valid body needs no separate look-up: the touch below raises the same 404/410.
    try:
        body = check_body(body)
        content: str = body["content"]
        attachments: list[Any] | None = body.get("attachments")
        metadata: dict[str, Any] = body.get("metadata") or {}
        transport = transport_of(body)
    except Exception:
        await service.get(session_id)  # its 404/410 come first
        raise
    row, renewed = await service.touch_for_message(session_id)
    status = service.status(row, renewed)
    if transport == "sse":
        response = Response(sse_stream(service, row, content, attachments, metadata, status),
                            status=200, content_type="text/event-stream")
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"
        response.timeout = None  # Quart cuts responses at 60 s; the stream has its own deadline
        return response
    if transport == "http":
        # Listening before the message is posted: no reply can slip by unseen.
        with service.messaging.watch_replies(f"session:{row['id']}") as watching:
            posted = await service.post(row, content, attachments, metadata)
            message = posted.message
            answer: dict[str, Any] = {"success": True, "userMessage": message,
                                      "sessionStatus": status}
            if posted.created and not posted.recipients:
                # The session's agent is not running: nothing can answer, say so at once.
                answer["agentResponse"] = None
                answer["agentResponseReason"] = "The session's agent is not running"
            else:
                # (a replayed message may have been answered before: look in the store)
                try:
                    answer["agentResponse"] = await wait_for_agent(
                        service, row, message["id"], watching if posted.created else None)
                except AgentTurnFailed as failed:  # stored, but the agent could not answer
                    answer.update(agentResponse=None, agentResponseReason=failed.message,
                                  agentError=failed.to_dict()["error"])
    else:
        posted = await service.post(row, content, attachments, metadata)
        message = posted.message
        answer = {"success": True, "userMessage": message, "sessionStatus": status}
    # The 1.7.2 api-client returns `data`, typed as this MessageResponse; the original sends
    # no `data`, so without it the client's call would yield nothing.
    answer["data"] = dict(answer)
    # The 1.5 answer's top-level keys, for older callers.
    for key in ("id", "content", "authorId", "createdAt", "metadata"):
        answer[key] = message[key]
    return answer, 201


def _cursor(name: str) -> int | None:
    try:
        return parse_cursor(name)  # epoch ms, or an ISO date as the web UI sends
    except BadRequest:
        raise SessionValidationError(
            f"Invalid pagination parameter '{name}': Must be a valid timestamp") from None


@bp.get("/<session_id>/messages")
@declare("A session's messages, newest first", tags=TAGS, path=SESSION, query=PAGE,
         error_code=CODE, answers=UNWRAPPED)
async def get_messages(session_id: str) -> Any:
    """`SessionService.messages`, streamed past one batch (see api/streaming.py)."""
    limit = query_int("limit", DEFAULT_LIMIT, lo=1, hi=MAX_LIMIT)
    before, after = _cursor("before"), _cursor("after")
    row = await _service().get(session_id)
    batches = server().messaging.iter_messages(row["channel_id"], limit=limit, before=before,
                                               after=after)
    seen: dict[str, int] = {"count": 0}  # and the cursors: newest first, the last is the oldest

    async def simplified() -> AsyncIterator[list[dict[str, Any]]]:
        async for batch in batches:
            seen["count"] += len(batch)
            seen.setdefault("after", batch[0]["created_at"])
            seen["before"] = batch[-1]["created_at"]
            yield [simplify(m) for m in batch]

    def envelope(items: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"messages": items, "hasMore": seen["count"] == limit}
        if seen["count"]:
            out["cursors"] = {"before": seen["before"], "after": seen["after"]}
        return out

    return await json_listing(simplified(), envelope)


@bp.post("/<session_id>/renew")
@declare("Renew a session", tags=TAGS, path=SESSION, error_code=CODE, answers=UNWRAPPED)
async def renew(session_id: str) -> Any:
    return await _service().renew(session_id)


@bp.patch("/<session_id>/timeout")
@declare("Change a session's timeout", tags=TAGS, path=SESSION, body=TIMEOUT,
         error_code=CODE, answers=UNWRAPPED,
         description="The body is checked before the session's look-up, as the original "
                     "does; the timeout must lie within the server's minimum and maximum.")
async def update_timeout(session_id: str) -> Any:
    return await _service().update_timeout(session_id, await json_body())


@bp.post("/<session_id>/heartbeat")
@declare("Keep a session alive", tags=TAGS, path=SESSION, error_code=CODE, answers=UNWRAPPED)
async def heartbeat(session_id: str) -> Any:
    return await _service().heartbeat(session_id)


@bp.delete("/<session_id>")
@declare("End a session", tags=TAGS, path=SESSION, error_code=CODE)
async def delete_session(session_id: str) -> Any:
    await _service().delete(session_id)
    message = f"Session {session_id} deleted successfully"
    # `data` for the 1.7.2 api-client, which returns it (typed `{success}` there).
    return {"success": True, "message": message,
            "data": {"success": True, "message": message, "sessionId": session_id}}
