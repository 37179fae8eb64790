"""Request helpers shared by the messaging blueprints: the server-id aliases, the author
from `X-Entity-Id`, idempotency keys and the `before`/`after` cursors."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from quart import request

from .common import parse_int
from .inputs import MAX_SAFE_INT, invalid

SERVER_ID_KEYS = ("message_server_id", "messageServerId", "server_id", "serverId")
_KEY_FIELDS = ("clientMessageId", "client_message_id", "idempotencyKey", "idempotency_key",
               "messageId")


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    value = body.get("metadata")
    return value if isinstance(value, dict) else {}


def body_server_id(body: dict[str, Any]) -> str | None:
    """The message server id under any of its names (1.7 and 1.5, snake and camel)."""
    for key in SERVER_ID_KEYS:
        value = body.get(key)
        if value:
            return str(value)
    return None


def author_from(body: dict[str, Any]) -> Any:
    """`author_id` from the body, else the caller's `X-Entity-Id` (the 1.7.2
    api-client's postMessage sends only content and metadata)."""
    metadata = _metadata(body)
    return (body.get("author_id") or body.get("authorId") or request.headers.get("X-Entity-Id")
            or metadata.get("author_id") or metadata.get("authorId"))


def idempotency_key(body: dict[str, Any]) -> str | None:
    """The client's own message id: `Idempotency-Key` header, or a body/metadata field."""
    header = request.headers.get("Idempotency-Key")
    if header:
        return header
    metadata = _metadata(body)
    for source in (body, metadata):
        for key in _KEY_FIELDS:
            if source.get(key):
                return str(source[key])
    return None


def parse_cursor(name: str) -> int | None:
    """A `before`/`after` query value as epoch ms: a (finite, JS-safe) number is ms,
    anything else is read as an ISO date (the web UI sends ISO). Else 400."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if raw.lstrip("+-").isdigit():
        return parse_int(name, raw)
    problem = "must be epoch milliseconds or an ISO 8601 date"
    try:
        value = float(raw)
    except ValueError:
        pass
    else:  # "1e308", "NaN", "inf" parse as floats: only finite, safe ones are times
        if not (math.isfinite(value) and abs(value) <= MAX_SAFE_INT):
            raise invalid(name, problem)
        return int(value)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(name, problem) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
