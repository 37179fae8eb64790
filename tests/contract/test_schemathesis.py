"""schemathesis against a live server (real hypercorn on a real port), its schema read from
the server's own /api/openapi.json: a few generated requests per operation, valid and
invalid, must meet the contract (documented status, media type and body) and never fail
with a 5xx other than a documented 501/503/507.

Run without an API key, with one configured and sent, and with one configured but not sent
(every operation but the public ones is then 401). Operations that stop the server or
write its .env run on throwaway servers of their own; the endless log streams are left out.
Select with `-m contract`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import LiveServer
from eliza.security.middleware import PUBLIC_API_PATHS

pytestmark = pytest.mark.contract

KEY = "contract-key"
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
# 5xx a route may answer by design, when its operation documents it: not implemented (the
# TEE placeholder), unavailable (the health of a server without agents, a missing speech
# model), the disk full.
EXPECTED_5XX = {501, 503, 507}
# They stop the server or change its .env: each on a throwaway server.
DESTRUCTIVE = {"POST /api/server/stop", "POST /api/runtime/stop", "POST /api/system/env/local"}
TIMEOUT = 20.0  # seconds a request may take (a reply the route waits for takes a few)


def operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


def is_stream(operation: Any) -> bool:
    """An operation whose success is an endless event stream (the log streams): a request
    would never end, so they are left out (tests/api/test_log_streams.py reads them)."""
    responses = operation.definition.raw["responses"]
    success = [answer for status, answer in responses.items() if status.startswith("2")]
    return all(set(answer.get("content", {})) == {"text/event-stream"} for answer in success)


Expect = Callable[[Any, requests.Response], "str | None"]


def fuzz(server: LiveServer, *, headers: dict[str, str], examples: int,
         wanted: Callable[[Any], bool] = lambda op: True,
         expect: Expect | None = None) -> list[str]:
    """Run generated requests against `server`; every failure, one line each."""
    schema = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json",
                                           headers=headers, timeout=TIMEOUT)
    failures: list[str] = []
    for operation in operations(schema):
        if not wanted(operation) or is_stream(operation):
            continue
        for mode, count in ((GenerationMode.POSITIVE, examples),
                            (GenerationMode.NEGATIVE, max(1, examples // 2))):

            @settings(max_examples=count, phases=[Phase.explicit, Phase.generate],
                      deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                failures.extend(exercise(case, server.url, headers, expect))

            try:
                run()
            except Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    raise
                # Nothing of this operation can be made invalid (no parameters, no body).
    return failures


def exercise(case: Any, base_url: str, headers: dict[str, str],
             expect: Expect | None) -> list[str]:
    """Send one case; what is wrong with its answer."""
    label = f"{case.method} {case.formatted_path}"
    try:
        response = case.call(base_url=base_url, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as exc:
        return [f"{label}: no answer ({exc!r})"]
    failures = []
    status = response.status_code
    documented = set(case.operation.definition.raw["responses"])
    # schemathesis's not_a_server_error, with 501/503/507 allowed where documented.
    if status >= 500 and not (status in EXPECTED_5XX and str(status) in documented):
        failures.append(f"{label}: {status} {response.text[:300]}")
    try:
        case.validate_response(response, checks=CHECKS)
    except (Exception, FailureGroup) as exc:  # every failed check of the case at once
        failures.append(f"{label} -> {status}: {' '.join(str(exc).split())[:600]}")
    if expect is not None:
        problem = expect(case, response)
        if problem:
            failures.append(f"{label} -> {status}: {problem}")
    return failures


def assert_none(failures: list[str]) -> None:
    unique = list(dict.fromkeys(failures))
    assert not unique, f"{len(unique)} contract failures:\n" + "\n".join(unique[:60])


def shared(operation: Any) -> bool:
    return operation.label not in DESTRUCTIVE


def test_without_an_api_key(live_server_factory: Any) -> None:
    server: LiveServer = live_server_factory()
    assert_none(fuzz(server, headers={}, examples=5, wanted=shared))


def test_with_an_api_key_sent(live_server_factory: Any) -> None:
    server: LiveServer = live_server_factory(ELIZA_SERVER_AUTH_TOKEN=KEY)
    assert_none(fuzz(server, headers={"X-API-KEY": KEY}, examples=5, wanted=shared))


# What these two find does not depend on the store (a refusal before any query; a stop):
# they run on SQLite only, which keeps the suite shorter.
@pytest.mark.sqlite_only
def test_with_an_api_key_not_sent(live_server_factory: Any) -> None:
    """Only the public operations answer without the key; all others are 401, even the
    destructive ones (so they run here too: they cannot act)."""
    server: LiveServer = live_server_factory(ELIZA_SERVER_AUTH_TOKEN=KEY)

    def expect(case: Any, response: requests.Response) -> str | None:
        if case.formatted_path in PUBLIC_API_PATHS:
            return "a public path refused without the key" if (
                response.status_code == 401) else None
        return None if response.status_code == 401 else "expected 401 without the key"

    assert_none(fuzz(server, headers={}, examples=2, expect=expect))
    assert requests.get(f"{server.url}/api/server/ping", headers=server.auth_headers,
                        timeout=TIMEOUT).status_code == 200  # still running


@pytest.mark.sqlite_only
@pytest.mark.parametrize("label", sorted(DESTRUCTIVE))
def test_destructive_operations_on_a_throwaway_server(live_server_factory: Any,
                                                      label: str) -> None:
    server: LiveServer = live_server_factory(ELIZA_SERVER_AUTH_TOKEN=KEY)
    stops = label.endswith("/stop")
    failures = fuzz(server, headers={"X-API-KEY": KEY}, examples=1 if stops else 5,
                    wanted=lambda op: op.label == label)
    if stops:  # once stopped, a server answers no more: the first answer is what counts
        assert server.proc is not None
        server.proc.wait(timeout=30)
        failures = [f for f in failures if "no answer" not in f]
    assert_none(failures)
