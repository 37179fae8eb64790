"""One declaration per route: what it takes (path, query, body) and what it is for.

`@declare(...)` sits between the blueprint's route decorator and the handler. The same
declaration does two jobs:

- validation, in the input layer: the path's UUID parameters and the query parameters are
  checked before the handler runs; the body spec is applied by `json_body()` when the
  handler reads its body (so a handler's own order of checks, e.g. 404 before 400, holds),
  and the handler gets the checked body (UUIDs in lower case);
- the OpenAPI 3.1 contract: `openapi_document(app)` walks the app's URL map and turns every
  declared route into an operation, served at `GET /api/openapi.json`.

Responses are described generically for now (the success and the error envelope).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from quart import Quart, current_app, request

from .. import __version__
from .common import parse_int, uuid_param
from .inputs import Integer, Number, Obj, Spec, Text, Uuid, invalid

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

# Path parameters named like this are UUIDs; the word is what uuid_param calls them.
_ID_PARAMS = {"agent_id": "agent", "channel_id": "channel", "message_id": "message",
              "server_id": "server", "room_id": "room", "memory_id": "memory",
              "world_id": "world", "run_id": "run", "log_id": "log"}


@dataclass(frozen=True)
class Cursor(Spec):
    """A `before`/`after` query value: epoch ms or an ISO 8601 date (checked by
    `parse_cursor`, which the handler calls)."""

    def _schema(self) -> dict[str, Any]:
        return {"type": "string", "description": "epoch milliseconds or an ISO 8601 date"}


@dataclass(frozen=True)
class Contract:
    summary: str
    tags: tuple[str, ...]
    query: Mapping[str, Spec] = field(default_factory=dict)
    body: Obj | None = None
    status: int = 200


def declare(summary: str, *, tags: tuple[str, ...] | str,
            query: Mapping[str, Spec] | None = None, body: Obj | None = None,
            status: int = 200) -> Callable[[F], F]:
    """Declare a route's inputs; the returned handler checks path ids and query first."""
    contract = Contract(summary, (tags,) if isinstance(tags, str) else tags,
                        dict(query or {}), body, status)

    def wrap(handler: F) -> F:
        @functools.wraps(handler)
        async def checked(*args: Any, **kwargs: Any) -> Any:
            for name, value in kwargs.items():
                if name in _ID_PARAMS:
                    kwargs[name] = uuid_param(value, _ID_PARAMS[name])
            for name, spec in contract.query.items():
                _check_query(name, spec)
            return await handler(*args, **kwargs)

        checked.__contract__ = contract  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return wrap


def _check_query(name: str, spec: Spec) -> None:
    raw = request.args.get(name)
    if raw is None or raw == "" or isinstance(spec, Cursor | Uuid):  # the handler checks these
        return
    if isinstance(spec, Integer):
        parse_int(name, raw)  # the range check; the handler clamps as it always did
    elif isinstance(spec, Number):
        try:
            spec.check(float(raw), name)
        except ValueError:
            raise invalid(name, "must be a number") from None
    else:
        spec.check(raw, name)


def route_contract() -> Contract | None:
    """The declaration of the route answering the current request, if any."""
    rule = request.url_rule
    if rule is None:
        return None
    view = current_app.view_functions.get(rule.endpoint)
    contract: Contract | None = getattr(view, "__contract__", None)
    return contract


# -- the OpenAPI document -------------------------------------------------------------------

_PARAM = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
_ENVELOPES = {
    "Success": {"type": "object", "required": ["success"],
                "properties": {"success": {"const": True}, "data": {}}},
    "Error": {"type": "object", "required": ["success", "error"], "properties": {
        "success": {"const": False},
        "error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
            "message": {"type": "string"},
            "details": {"description": "for a bad field: {field, problem}; for a 500: "
                                       "{errorId}, as in the server's log"}}}}},
}


def openapi_document(app: Quart) -> dict[str, Any]:
    """The OpenAPI 3.1 contract of every declared route under /api."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        contract = getattr(app.view_functions.get(rule.endpoint), "__contract__", None)
        if contract is None or not rule.rule.startswith("/api/"):
            continue
        path = _PARAM.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                contract, rule.rule, f"{rule.endpoint}.{method.lower()}")
    return {
        "openapi": "3.1.0",
        "info": {"title": "eliza (ElizaOS-compatible agent server)", "version": __version__},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": _ENVELOPES},
    }


def _operation(contract: Contract, rule: str, operation_id: str) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": Uuid().schema() if name in _ID_PARAMS else Text().schema()}
        for name in _PARAM.findall(rule)
    ]
    parameters += [{"name": name, "in": "query", "required": False, "schema": spec.schema()}
                   for name, spec in contract.query.items()]
    ref = {"$ref": "#/components/schemas/Error"}
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": contract.summary,
        "tags": list(contract.tags),
        "parameters": parameters,
        "responses": {
            str(contract.status): {"description": "success", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Success"}}}},
            "4XX": {"description": "refused", "content": {"application/json": {"schema": ref}}},
            "500": {"description": "a bug (details.errorId is in the log)",
                    "content": {"application/json": {"schema": ref}}},
        },
    }
    if contract.body is not None:
        operation["requestBody"] = {"required": False, "content": {
            "application/json": {"schema": contract.body.schema()}}}
    return operation
