"""ELIZA_CONTRACT_CHECK: every answer of the REST API held against /api/openapi.json.

`ContractValidator` is built from `openapi_document(app)`; `violation()` says what is wrong
with one response: a status the operation does not document (exactly or as 4XX/5XX), a
media type it does not document for that status, a body on a status that has none, or a
JSON body that its schema refuses. Paths outside /api, non-JSON bodies and the answers of
plugin routes (generic operations) are checked for status and media type only.

With the setting on, `checking_send` wraps each HTTP request's ASGI `send` (the fast path's
answers included) and logs an error naming each departure, whoever the client; the test
suite fails on such a line. It buffers JSON answers to check them, so it is meant for
development and tests.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # (no stubs)
from quart import Quart
from werkzeug.exceptions import MethodNotAllowed, NotFound

from . import plugin_routes
from .contract import openapi_document

log = logging.getLogger(__name__)

# Above this, a JSON answer's body is not buffered for the check (its status and media
# type still are checked).
MAX_CHECKED_BODY = 4 * 1024 * 1024
VIOLATION = "contract violation"

_PARAM = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
# Operations that stand for routes the core does not declare itself: a plugin's handler
# answers through them what it likes (its own 4XX too), so only statuses and media types
# are judged, and the body of the core's refusal when no plugin of that name has routes.
GENERIC_OPERATIONS = ("plugin_routes.dispatch", "plugin_routes.agent_plugin_route")


@dataclass
class Response:
    """What a check needs of a response, whichever client received it."""

    status: int
    content_type: str | None
    body: bytes
    # How many bytes were sent, when `body` is not all of them (an answer not kept whole):
    # its schema is then not checked.
    length: int | None = None

    @property
    def size(self) -> int:
        return len(self.body) if self.length is None else self.length


def media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _media_matches(declared: str, actual: str) -> bool:
    declared = media_type(declared) or ""  # a documented type may carry parameters
    if declared in ("*/*", actual):
        return True
    major, _, minor = declared.partition("/")
    return minor == "*" and actual.startswith(f"{major}/")


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


class ContractValidator:
    """The operations of one app's contract, and the check of a response against one."""

    def __init__(self, app: Quart) -> None:
        self.app = app
        self.document = openapi_document(app)
        self._components = self.document.get("components", {})
        self._validators: dict[int, Draft202012Validator] = {}
        # The dispatched paths have no URL rule: matched by their templates, most literal
        # first.
        templates = []
        for path in self.document["paths"]:
            pattern = "^" + re.sub(r"\\\{(\w+)\\\}",
                                   lambda m: ".+" if m.group(1) == "rest" else "[^/]+",
                                   re.escape(path)) + "$"
            templates.append((-path.count("/") + path.count("{"), path, re.compile(pattern)))
        self._templates = [(path, regex) for _, path, regex in sorted(templates)]
        # The plugins with routes: a request to another name is refused by the core.
        router = plugin_routes.router()
        self._plugins, self._global_plugins = set(router.plugins), router.global_names

    def _to_a_plugin(self, path: str) -> bool:
        """Whether `path` names a plugin that has routes (its handler may have answered)."""
        parts = path.split("/")
        if len(parts) > 5 and parts[1:3] == ["api", "agents"] and parts[4] == "plugins":
            return parts[5] in self._plugins
        return len(parts) > 2 and parts[2] in self._global_plugins

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        """The operation serving `method path` as the app routes it, if it is declared."""
        adapter = self.app.url_map.bind("localhost")
        try:
            rule, _ = adapter.match(path, method=method, return_rule=True)
        except (NotFound, MethodNotAllowed):
            rule = None
        except Exception:  # a redirect (a missing slash): not an operation
            return None
        paths = self.document["paths"]
        if rule is not None:
            operations = paths.get(_PARAM.sub(r"{\1}", rule.rule))
            return operations.get(method.lower()) if operations else None
        for template, regex in self._templates:
            if regex.match(path) and method.lower() in paths[template]:
                operation: dict[str, Any] = paths[template][method.lower()]
                return operation
        return None

    def violation(self, method: str, path: str, response: Response) -> str | None:
        """What is wrong with `response` to `method path`, or None."""
        if method in ("HEAD", "OPTIONS"):
            return None
        media = media_type(response.content_type)
        operation = self.operation(method, path)
        if operation is None:
            if not path.startswith("/api/") or response.status < 400:
                return None
            # An unrouted /api path or method: the core's refusal, in the error envelope.
            return self._check_body({"$ref": "#/components/schemas/Error"}, media, response)
        responses = operation["responses"]
        key = str(response.status)
        if key not in responses:
            key = f"{key[0]}XX" if f"{key[0]}XX" in responses else "default"
            if key not in responses:
                return (f"status {response.status} is not documented for "
                        f"{operation['operationId']} (documented: {sorted(responses)})")
        declared = responses[key].get("content")
        if not declared:
            if response.size or media is not None:
                return (f"status {response.status} has no body in the contract, got "
                        f"{response.size} bytes of {response.content_type!r}")
            return None
        if media is None:
            return f"no Content-Type; the contract has {sorted(declared)}"
        matches = [name for name in declared if _media_matches(name, media)]
        if not matches:
            return f"media type {media} is not among {sorted(declared)}"
        if operation["operationId"].startswith(GENERIC_OPERATIONS) and (
                response.status < 400 or self._to_a_plugin(path)):
            return None  # the plugin's handler answers as it likes, its own 4XX too
        schema = declared[matches[0]].get("schema")
        return self._check_body(schema, media, response) if schema else None

    def _check_body(self, schema: dict[str, Any], media: str | None,
                    response: Response) -> str | None:
        if media is None or not _is_json(media):
            return None if media is not None else "an error without a Content-Type"
        if response.length is not None:
            return None
        try:
            body = json.loads(response.body)
        except ValueError as exc:
            return f"the body is not JSON ({exc}): {response.body[:200]!r}"
        validator = self._validators.get(id(schema))
        if validator is None:
            # The components ride along so the schema's `#/components/...` refs resolve.
            validator = Draft202012Validator({"allOf": [schema], "components": self._components})
            self._validators[id(schema)] = validator
        error = next(iter(validator.iter_errors(body)), None)
        if error is None:
            return None
        where = "/".join(str(part) for part in error.absolute_path) or "(the body)"
        return f"the body at {where}: {error.message[:300]}"


async def validator_of(app: Quart) -> ContractValidator:
    """The app's validator, built once (after startup: plugins add their paths)."""
    found = app.extensions.get("contract_validator")
    if found is None:
        async with app.app_context():  # the declarations read the server's limits
            found = app.extensions["contract_validator"] = ContractValidator(app)
    validator: ContractValidator = found
    return validator


Send = Callable[[dict[str, Any]], Awaitable[None]]


def checking_send(validator: ContractValidator, scope: dict[str, Any], send: Send) -> Send:
    """`send`, logging an error when the answer it carries departs from the contract."""
    method = str(scope.get("method", "GET")).upper()
    path = str(scope.get("path", ""))
    started: list[Response] = []
    chunks: list[bytes] = []
    sent = 0

    async def checked(message: dict[str, Any]) -> None:
        nonlocal sent
        await send(message)
        kind = message.get("type")
        if kind == "http.response.start":
            content_type = next((value.decode("latin-1")
                                 for name, value in message.get("headers", ())
                                 if name.lower() == b"content-type"), None)
            started.append(Response(int(message["status"]), content_type, b""))
            return
        if kind != "http.response.body" or not started:
            return
        answer = started[0]
        body = message.get("body", b"")
        sent += len(body)
        media = media_type(answer.content_type)
        if media is not None and _is_json(media) and sent <= MAX_CHECKED_BODY:
            chunks.append(body)
        elif chunks:  # too big to check: let go of what was kept
            chunks.clear()
        if message.get("more_body", False):
            return
        answer.body = b"".join(chunks)
        if len(answer.body) != sent:
            answer.length = sent
        problem = validator.violation(method, path, answer)
        if problem is not None:
            log.error("%s: %s %s -> %d: %s", VIOLATION, method, path, answer.status, problem)

    return checked
