"""The published contract held against what the server really answers.

`ContractValidator` is built from `openapi_document(app)`; `violation()` says what is wrong
with one response: a status the operation does not document (exactly or as 4XX/5XX), a
media type it does not document for that status, a body on a status that has none, or a
JSON body that its schema refuses. `ContractClient` is the Quart test client that checks
every response the suite receives (conftest.py `open_app` installs it).

Paths outside /api and operations without a declaration of their own (the plugin
dispatchers) are checked for status and media type only, as are non-JSON bodies.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # (no stubs)
from quart import Quart
from quart_trio.testing.client import TrioClient
from quart_trio.testing.connections import TestHTTPConnection
from werkzeug.exceptions import MethodNotAllowed, NotFound

from eliza.api.contract import openapi_document

_PARAM = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
# Operations that stand for routes the core does not declare itself: whatever a plugin
# answers goes through them, so only the envelope of the core's own refusals is judged.
GENERIC_OPERATIONS = ("plugin_routes.dispatch", "plugin_routes.agent_plugin_route")


@dataclass
class Response:
    """What a check needs of a response, whichever client received it."""

    status: int
    content_type: str | None
    body: bytes


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
            if response.body or media is not None:
                return (f"status {response.status} has no body in the contract, got "
                        f"{len(response.body)} bytes of {response.content_type!r}")
            return None
        if media is None:
            return f"no Content-Type; the contract has {sorted(declared)}"
        matches = [name for name in declared if _media_matches(name, media)]
        if not matches:
            return f"media type {media} is not among {sorted(declared)}"
        if operation["operationId"].startswith(GENERIC_OPERATIONS) and response.status < 400:
            return None
        schema = declared[matches[0]].get("schema")
        return self._check_body(schema, media, response) if schema else None

    def _check_body(self, schema: dict[str, Any], media: str | None,
                    response: Response) -> str | None:
        if media is None or not _is_json(media):
            return None if media is not None else "an error without a Content-Type"
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


class _Connection(TestHTTPConnection):
    """Keeps the headers as sent: the response object the test client builds adds a
    default `text/html` Content-Type where none was sent (a 204)."""

    async def as_response(self) -> Any:
        # Read first: the response takes these very headers and adds its default.
        sent = self.headers.get("Content-Type") if self.headers is not None else None
        response: Any = await super().as_response()
        response.sent_content_type = sent
        return response


class ContractClient(TrioClient):
    """The test client, failing the test on any response the contract does not describe."""

    http_connection_class = _Connection

    async def open(self, path: str, *args: Any, **kwargs: Any) -> Any:
        response: Any = await super().open(path, *args, **kwargs)
        method = str(kwargs.get("method", "GET")).upper()
        route = path.split("?", 1)[0]
        sent = getattr(response, "sent_content_type", response.headers.get("Content-Type"))
        # A streamed answer (an event stream) is read by the test itself: never buffer it here.
        streamed = media_type(sent) == "text/event-stream"
        body = b"" if streamed else await response.get_data(as_text=False)
        seen = Response(response.status_code, sent, body)
        problem = (await validator_of(self.app)).violation(method, route, seen)
        if problem is not None:
            raise AssertionError(f"contract violation: {method} {route} -> "
                                 f"{response.status_code}: {problem}")
        return response
