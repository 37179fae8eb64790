"""What every route handler shares: the server, JSON bodies, ids and envelopes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from quart import current_app, request

from ..errors import BadRequest, InvalidId, PayloadTooLarge
from ..ids import validate_uuid

if TYPE_CHECKING:
    from ..server import AgentServer


def server() -> AgentServer:
    return cast("AgentServer", current_app.config["ELIZA_SERVER"])


def ok(data: Any, status: int = 200) -> tuple[dict[str, Any], int]:
    return {"success": True, "data": data}, status


async def json_body() -> dict[str, Any]:
    """The request's JSON object. An empty body is `{}` (the api-client sends
    `Content-Type: application/json` on bodiless POSTs); malformed JSON is a 400."""
    limit = server().settings.max_json_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    raw = await request.get_data(as_text=False)
    if len(raw) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("The JSON body must be an object")
    return body


def uuid_param(value: str, what: str = "agent") -> str:
    valid = validate_uuid(value)
    if valid is None:
        raise InvalidId(f"Invalid {what} ID format")
    return valid


def query_int(name: str, default: int, *, lo: int = 0, hi: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Query parameter {name!r} must be an integer") from None
    value = max(lo, value)
    return min(hi, value) if hi is not None else value
