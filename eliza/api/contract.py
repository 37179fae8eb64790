"""One declaration per route: what it takes (path, query, body) and what it is for.

`@declare(...)` sits between the blueprint's route decorator and the handler. The same
declaration does two jobs:

- validation, in the input layer: the path's UUID parameters and the query parameters are
  checked before the handler runs; the body spec is applied by `json_body()` when the
  handler reads its body (so a handler's own order of checks, e.g. 404 before 400, holds),
  and the handler gets the checked body (UUIDs in lower case). A route that must parse its
  body before a look-up but check the fields after it (`body_after_lookup`) calls
  `check_body()` itself. A route with its own error code for bad input (`error_code`, as
  the sessions API answers `VALIDATION_ERROR`) gets every field failure in that code;
- the OpenAPI 3.1 contract: `openapi_document(app)` walks the app's URL map and turns every
  declared route into an operation, served at `GET /api/openapi.json`. Paths served without
  a URL rule (the global plugin dispatcher) are added with `declare_path`.

Multipart uploads are declared with `Multipart` (the `file` part and the other form
fields; the receiver in eliza/media/uploads.py enforces its limits as it streams).
Responses are described generically (the success and the error envelope) unless a route
names what it answers (`answers`: unwrapped JSON, see `unwrapped`; audio; an event stream)
or answers besides it (`others`, by status). Every operation documents the refusals any
request may meet (4XX, 500, 503 while stopping or without a store, 507 on a full disk) and,
but for the public ones, the `ApiKey` security scheme (X-API-KEY) and its 401. The suite
checks every response it receives against this document (tests/contract).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from quart import Quart, current_app, request

from .. import __version__
from ..errors import BadRequest
from ..security.middleware import PUBLIC_API_PATHS
from .common import parse_int, uuid_param
from .inputs import Integer, Number, Spec, Text, Uuid, invalid, limit

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


_MB = 1024 * 1024


@dataclass(frozen=True)
class Multipart:
    """A `multipart/form-data` body: one `file` part of the `allowed` MIME types, at most
    `max_upload_bytes` (a setting), plus other form `fields`. Published only: the streaming
    receiver checks size, type and magic bytes as the body arrives."""

    allowed: frozenset[str]
    fields: Mapping[str, Spec] = field(default_factory=dict)
    file: str = "the file"

    def schema(self) -> dict[str, Any]:
        most = limit("max_upload_bytes")
        size = f"{most // _MB} MB" if most % _MB == 0 else f"{most} bytes"
        types = ", ".join(sorted(self.allowed))
        file = {"type": "string", "format": "binary",
                "description": f"{self.file}: at most {size} (larger is 413 FILE_TOO_LARGE), "
                               f"of a type among {types} and matching its magic bytes "
                               "(else 415)"}
        return {"type": "object", "required": ["file"],
                "properties": {"file": file, **{k: v.schema() for k, v in self.fields.items()}}}


@dataclass(frozen=True)
class Contract:
    summary: str
    tags: tuple[str, ...]
    query: Mapping[str, Spec] = field(default_factory=dict)
    request_body: Spec | None = None  # a JSON body
    status: int = 200
    error_code: str | None = None
    body_after_lookup: bool = False
    path: Mapping[str, Spec] = field(default_factory=dict)
    multipart: Multipart | None = None
    description: str = ""
    answers: Mapping[str, Mapping[str, Any]] | None = None  # media type -> schema
    errors: Mapping[int, str] = field(default_factory=dict)  # status -> its codes and when
    # Other answers than the envelope: status (or "default") -> (when, media type -> schema).
    others: Mapping[int | str, tuple[str, Mapping[str, Mapping[str, Any]]]] = field(
        default_factory=dict)

    @property
    def body(self) -> Spec | None:
        """What `json_body()` applies as it reads the body: nothing for a route that checks
        its body after its own look-up (with `check_body`)."""
        return None if self.body_after_lookup else self.request_body


def declare(summary: str, *, tags: tuple[str, ...] | str,
            query: Mapping[str, Spec] | None = None, body: Spec | None = None,
            status: int = 200, error_code: str | None = None,
            body_after_lookup: bool = False, path: Mapping[str, Spec] | None = None,
            multipart: Multipart | None = None, description: str = "",
            answers: Mapping[str, Mapping[str, Any]] | None = None,
            errors: Mapping[int, str] | None = None,
            others: Mapping[int | str, tuple[str, Mapping[str, Mapping[str, Any]]]] | None = None,
            ) -> Callable[[F], F]:
    """Declare a route's inputs; the returned handler checks path ids and query first.

    `error_code`: the code of the route's 400s for bad fields (else BAD_REQUEST or
    INVALID_ID). `body_after_lookup`: `json_body()` only parses; the handler calls
    `check_body` after its look-up. `path`: schemas of path parameters the handler checks
    itself (published only; a known id named here is left to the handler too, e.g. one
    whose refusal must close the connection). `multipart`: an upload body. `errors`: the
    refusals particular to the route, by status (its codes and when), published besides
    the generic 4XX. `others`: answers besides the success and the error envelope, by status
    (or "default": any other), each with when and its media types (none for an empty
    body)."""
    contract = Contract(summary, (tags,) if isinstance(tags, str) else tags,
                        dict(query or {}), body, status, error_code, body_after_lookup,
                        dict(path or {}), multipart, description, answers,
                        dict(errors or {}), dict(others or {}))

    def wrap(handler: F) -> F:
        @functools.wraps(handler)
        async def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                for name, value in kwargs.items():
                    if name in _ID_PARAMS and name not in contract.path:
                        kwargs[name] = uuid_param(value, _ID_PARAMS[name])
                for name, spec in contract.query.items():
                    _check_query(name, spec)
                return await handler(*args, **kwargs)
            except BadRequest as exc:
                recoded = _recoded(exc, contract.error_code)
                if recoded is exc:
                    raise
                raise recoded from None

        checked.__contract__ = contract  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return wrap


def _recoded(exc: BadRequest, code: str | None) -> BadRequest:
    """A field failure (its details name the field and the problem) in the route's code."""
    details = exc.details
    if code is None or exc.code == code or not (
            isinstance(details, dict) and {"field", "problem"} <= details.keys()):
        return exc
    return BadRequest(exc.message, code=code, details=details, headers=exc.headers)


def check_body(body: dict[str, Any]) -> dict[str, Any]:
    """The current route's declared JSON body applied to `body`, for a route declared
    `body_after_lookup` (others get it from `json_body()`)."""
    contract = route_contract()
    if contract is None or contract.request_body is None:
        return body
    checked: dict[str, Any] = contract.request_body.check(body, "body")
    return checked


def _check_query(name: str, spec: Spec) -> None:
    raw = request.args.get(name)
    if raw is None or raw == "" or isinstance(spec, Cursor | Uuid):  # the handler checks these
        return
    try:
        if isinstance(spec, Integer):
            parse_int(name, raw)  # the range check; the handler clamps as it always did
        elif isinstance(spec, Number):
            try:
                spec.check(float(raw), name)
            except ValueError:
                raise invalid(name, "must be a number") from None
        else:
            spec.check(raw, name)
    except BadRequest as exc:
        raise spec.reword(exc, raw) from None


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


_EXTRA = "eliza_contract_paths"
_SECURITY = {"ApiKey": {
    "type": "apiKey", "in": "header", "name": "X-API-KEY",
    "description": "the server's ELIZA_SERVER_AUTH_TOKEN; required on every operation but "
                   "the public ones (the contracts and the docs page) while it is set"}}
# Statuses any operation may answer besides its own, whatever it does: the error envelope.
_GENERIC = {
    "4XX": "refused",
    "500": "a bug (details.errorId is in the log)",
    "503": "the server is stopping, or its store (or another worker it needs) is unavailable; "
           "retry",
    "507": "the disk is full or read-only",
}


def unwrapped(schema: Mapping[str, Any] | None = None, description: str = "") -> dict[
        str, Mapping[str, Any]]:
    """`answers` for a route that answers bare JSON (not the success envelope): an object
    unless `schema` says otherwise."""
    body = dict(schema) if schema is not None else {"type": "object"}
    if description:
        body["description"] = description
    return {"application/json": body}


def declare_path(app: Quart, path: str, methods: Iterable[str], contract: Contract,
                 operation: str) -> None:
    """Publish a path the app serves without a URL rule (a `before_request` dispatcher);
    `path` in werkzeug form (`<name>`), `operation` names it in operation ids."""
    extra: list[tuple[str, tuple[str, ...], Contract, str]] = app.extensions.setdefault(
        _EXTRA, [])
    extra.append((path, tuple(sorted(methods)), contract, operation))


def openapi_document(app: Quart) -> dict[str, Any]:
    """The OpenAPI 3.1 contract of every declared route under /api."""
    declared: list[tuple[str, tuple[str, ...], Contract, str]] = []
    for rule in app.url_map.iter_rules():
        contract = getattr(app.view_functions.get(rule.endpoint), "__contract__", None)
        if contract is not None:
            methods = tuple(sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}))
            declared.append((rule.rule, methods, contract, rule.endpoint))
    declared += app.extensions.get(_EXTRA, [])
    paths: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for rule_path, methods, contract, endpoint in declared:
        if not rule_path.startswith("/api/"):
            continue
        path = _PARAM.sub(r"{\1}", rule_path)
        for method in methods:
            # One handler may serve several paths (aliases): operation ids must stay unique.
            operation_id = f"{endpoint}.{method.lower()}"
            seen[operation_id] = seen.get(operation_id, 0) + 1
            if seen[operation_id] > 1:
                operation_id += f".{seen[operation_id]}"
            paths.setdefault(path, {})[method.lower()] = _operation(
                contract, rule_path, method, operation_id)
    return {
        "openapi": "3.1.0",
        "info": {"title": "eliza (ElizaOS-compatible agent server)", "version": __version__},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": _ENVELOPES, "securitySchemes": _SECURITY},
    }


def _response(description: str, answers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if answers:
        response["content"] = {media: {"schema": dict(schema)} if schema else {}
                               for media, schema in answers.items()}
    return response


def _public(rule: str) -> bool:
    """Whether the API key guard lets a GET of this rule through without the key: a public
    path, or a rule under one (the docs page's assets)."""
    prefix = rule.split("<", 1)[0]
    return rule in PUBLIC_API_PATHS or (prefix != rule and prefix.rstrip("/") in PUBLIC_API_PATHS)


def _path_schema(contract: Contract, name: str) -> dict[str, Any]:
    if name in contract.path:
        return contract.path[name].schema()
    return Uuid().schema() if name in _ID_PARAMS else Text().schema()


def _operation(contract: Contract, rule: str, method: str,
               operation_id: str) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(contract, name)}
        for name in _PARAM.findall(rule)
    ]
    parameters += [{"name": name, "in": "query", "required": False, "schema": spec.schema()}
                   for name, spec in contract.query.items()]
    ref = {"$ref": "#/components/schemas/Error"}
    answers = contract.answers or {
        "application/json": {"$ref": "#/components/schemas/Success"}}
    success: dict[str, Any] = {"description": "success"}
    if contract.status != 204:  # a 204 has no body, hence no media type
        success["content"] = {media: {"schema": dict(schema)} for media, schema in answers.items()}
    public = method == "GET" and _public(rule)
    refusals = dict(contract.errors)
    if not public:
        refusals.setdefault(401, "UNAUTHORIZED: no or a wrong X-API-KEY (with an API key set)")
    documented = {str(code) for code in (contract.status, *refusals, *contract.others)}
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": contract.summary,
        "tags": list(contract.tags),
        "parameters": parameters,
        "responses": {
            str(contract.status): success,
            **{str(status): _response(text, media)
               for status, (text, media) in contract.others.items()},
            **{str(status): {"description": text,
                             "content": {"application/json": {"schema": ref}}}
               for status, text in sorted(refusals.items())
               if status != contract.status and status not in contract.others},
            **{status: {"description": text, "content": {"application/json": {"schema": ref}}}
               for status, text in _GENERIC.items() if status not in documented},
        },
        "security": [] if public else [{"ApiKey": []}],
    }
    if contract.description:
        operation["description"] = contract.description
    content: dict[str, Any] = {}
    # A body on GET/DELETE has no defined meaning (a generic plugin route takes any method).
    if contract.request_body is not None and method not in ("GET", "DELETE"):
        content["application/json"] = {"schema": contract.request_body.schema()}
    if contract.multipart is not None:
        content["multipart/form-data"] = {"schema": contract.multipart.schema()}
    if content:
        operation["requestBody"] = {"required": contract.multipart is not None and len(
            content) == 1, "content": content}
    return operation
