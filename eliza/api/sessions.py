"""`/api/messaging/sessions*`: unwrapped JSON answers as the original ElizaOS server sends
them, errors in the `{success: false, error: {code, message}}` form with the sessions' own
codes (`SESSION_NOT_FOUND`, `SESSION_EXPIRED`, ...).
`/health` is registered before `/<session_id>` (static rules win in werkzeug anyway)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from quart import Blueprint, Response, request

from ..errors import BadRequest
from ..sessions.errors import SessionValidationError
from ..sessions.service import SessionService, simplify
from ..sessions.transports import sse_stream, transport_of, wait_for_agent
from .common import json_body, server
from .messaging_common import parse_cursor
from .streaming import json_listing

bp = Blueprint("sessions", __name__, url_prefix="/api/messaging/sessions")

MAX_CONTENT = 4000
DEFAULT_LIMIT = 50
MAX_LIMIT = 100


def _service() -> SessionService:
    return server().sessions


async def _body() -> dict[str, Any]:
    try:
        return await json_body()
    except BadRequest as exc:  # malformed JSON is a validation error on these routes
        raise SessionValidationError(exc.message) from None


@bp.get("/health")
async def health() -> Any:
    return await _service().health()


@bp.post("")
async def create_session() -> Any:
    body = await _body()
    created = await _service().create(body.get("agentId"), body.get("userId"),
                                      body.get("metadata"), body.get("timeoutConfig"))
    return created, 201


@bp.get("")
async def list_sessions() -> Any:
    active, _, expired = await _service().overview()
    return {"sessions": active, "total": len(active),
            "stats": {"totalSessions": len(active) + expired, "activeSessions": len(active),
                      "expiredSessions": expired}}


@bp.get("/<session_id>")
async def get_session(session_id: str) -> Any:
    service = _service()
    return service.info(await service.get(session_id))


def _content(body: dict[str, Any]) -> str:
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        raise SessionValidationError("Content is required and must be a non-empty string")
    if len(content) > MAX_CONTENT:
        raise SessionValidationError(
            f"Content exceeds maximum length of {MAX_CONTENT} characters")
    return content


def _attachments(body: dict[str, Any]) -> list[Any] | None:
    attachments = body.get("attachments")
    if attachments is None:
        return None
    if not isinstance(attachments, list) or not all(
        isinstance(a, dict) and isinstance(a.get("url"), str) for a in attachments
    ):
        raise SessionValidationError("Attachments must be an array of {type, url, name?}")
    return attachments


@bp.post("/<session_id>/messages")
async def send_message(session_id: str) -> Any:
    service = _service()
    body = await _body()
    # Checks in the original's order: session exists (404), alive (410), then the content.
    # A valid body needs no separate look-up: the touch below raises the same 404/410.
    try:
        content = _content(body)
        attachments = _attachments(body)
        metadata = body.get("metadata") if body.get("metadata") is not None else {}
        if not isinstance(metadata, dict):
            raise SessionValidationError("Metadata must be an object")
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
                answer["agentResponse"] = await wait_for_agent(
                    service, row, message["id"], watching if posted.created else None)
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


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        return max(1, min(MAX_LIMIT, int(raw)))
    except ValueError:
        raise SessionValidationError(
            "Invalid pagination parameter 'limit': Must be a number") from None


def _cursor(name: str) -> int | None:
    try:
        return parse_cursor(name)  # epoch ms, or an ISO date as the web UI sends
    except BadRequest:
        raise SessionValidationError(
            f"Invalid pagination parameter '{name}': Must be a valid timestamp") from None


@bp.get("/<session_id>/messages")
async def get_messages(session_id: str) -> Any:
    """`SessionService.messages`, streamed past one batch (see api/streaming.py)."""
    limit, before, after = _limit(), _cursor("before"), _cursor("after")
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
async def renew(session_id: str) -> Any:
    return await _service().renew(session_id)


@bp.patch("/<session_id>/timeout")
async def update_timeout(session_id: str) -> Any:
    return await _service().update_timeout(session_id, await _body())


@bp.post("/<session_id>/heartbeat")
async def heartbeat(session_id: str) -> Any:
    return await _service().heartbeat(session_id)


@bp.delete("/<session_id>")
async def delete_session(session_id: str) -> Any:
    await _service().delete(session_id)
    message = f"Session {session_id} deleted successfully"
    # `data` for the 1.7.2 api-client, which returns it (typed `{success}` there).
    return {"success": True, "message": message,
            "data": {"success": True, "message": message, "sessionId": session_id}}
