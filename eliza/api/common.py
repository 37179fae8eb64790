"""What every route handler shares: the server, JSON bodies, ids and envelopes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from quart import Blueprint, Response, current_app, request

from ..errors import AgentNotFound, BadRequest, InvalidId, NotFound, PayloadTooLarge
from ..ids import validate_uuid
from .inputs import MAX_SAFE_INT, invalid, loads

if TYPE_CHECKING:
    from ..server import AgentServer


def server() -> AgentServer:
    return cast("AgentServer", current_app.config["ELIZA_SERVER"])


def missing_agent_is_not_found(error: AgentNotFound) -> tuple[dict[str, Any], int, dict[str, str]]:
    """An unknown agent as the original's agents routes answer it: 404 `NOT_FOUND` (clients
    compare the code). The sessions API and the plugin routes keep `AGENT_NOT_FOUND`."""
    answer = NotFound(error.message, details=error.details, headers=error.headers)
    return answer.to_dict(), answer.status, answer.headers


def answer_missing_agent_as_not_found(*blueprints: Blueprint) -> None:
    """Every route of these blueprints answers an unknown agent 404 `NOT_FOUND`. Called when
    the blueprints are defined: a blueprint takes no handler once registered."""
    for blueprint in blueprints:
        blueprint.register_error_handler(AgentNotFound, missing_agent_is_not_found)


def ok(data: Any, status: int = 200) -> tuple[dict[str, Any], int]:
    return {"success": True, "data": data}, status


def no_content() -> Response:
    """An empty 204: no body and no Content-Type (Quart would otherwise label it text/html,
    which the contract does not publish for a 204)."""
    # A body given (even empty) avoids Quart's asyncio-only iterable body under Trio.
    response = Response(b"", status=204)
    del response.headers["Content-Type"]
    return response


async def json_body() -> dict[str, Any]:
    """The request's JSON object, parsed strictly (eliza/api/inputs.py: depth, NaN,
    surrogates). An empty body is `{}` (the api-client sends `Content-Type:
    application/json` on bodiless POSTs); malformed JSON is a 400."""
    limit = server().settings.max_json_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    raw = await request.get_data(as_text=False)
    if len(raw) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    if not raw.strip():
        return _declared({})
    body = loads(raw)
    if not isinstance(body, dict):
        raise BadRequest("The JSON body must be an object",
                         details={"field": "body", "problem": "must be an object"})
    return _declared(body)


def _declared(body: dict[str, Any]) -> dict[str, Any]:
    """The body checked against the route's declared body (eliza/api/contract.py)."""
    rule = request.url_rule
    view = current_app.view_functions.get(rule.endpoint) if rule is not None else None
    contract = getattr(view, "__contract__", None)
    if contract is None or contract.body is None:
        return body
    checked: dict[str, Any] = contract.body.check(body, "body")
    return checked


def uuid_param(value: str, what: str = "agent") -> str:
    """A UUID from the path or the query, in lower case; anything else is 400 INVALID_ID."""
    valid = validate_uuid(value)
    if valid is None:
        field = what if "Id" in what or "_id" in what else f"{what}Id"
        raise InvalidId(f"Invalid {what} ID format",
                        details={"field": field, "problem": "must be a UUID"})
    return valid


def parse_int(name: str, raw: str) -> int:
    """A query value as an integer within the JS-safe range (so no store call overflows)."""
    text = raw.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isdigit() or not digits.isascii():
        raise invalid(name, "must be an integer")
    if len(digits) > 16 or abs(int(text)) > MAX_SAFE_INT:
        raise invalid(name, f"must be an integer between {-MAX_SAFE_INT} and {MAX_SAFE_INT}")
    return int(text)


def query_int(name: str, default: int, *, lo: int = 0, hi: int | None = None) -> int:
    """An integer query parameter: absent is `default`; a value in the safe range is
    brought into [lo, hi] (paging limits clamp, as ElizaOS does); anything else is 400."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = max(lo, parse_int(name, raw))
    return min(hi, value) if hi is not None else value


def query_optional_int(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    return parse_int(name, raw)
