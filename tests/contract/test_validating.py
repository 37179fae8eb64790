"""The check every response of the suite goes through (tests/contract/validating.py): what it
accepts and what it refuses, on the real app's contract."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.messaging.helpers import ELIZA_ID

from .validating import ContractClient, Response, validator_of

JSON = "application/json"


def envelope(data: Any) -> bytes:
    return json.dumps({"success": True, "data": data}).encode()


def error(code: str = "NOT_FOUND") -> bytes:
    return json.dumps({"success": False, "error": {"code": code, "message": "no"}}).encode()


async def test_the_suite_client_checks_its_answers(client: Any) -> None:
    assert isinstance(client, ContractClient)
    # A 204 really goes out with no Content-Type (Quart's default would be text/html).
    room = (await (await client.post(f"/api/memory/{ELIZA_ID}/rooms",
                                     json={"name": "r"})).get_json())["data"]["id"]
    response: Any = await client.delete(f"/api/memory/{ELIZA_ID}/memories/all/{room}")
    assert response.status_code == 204
    assert response.sent_content_type is None


@pytest.mark.parametrize(("method", "path", "answer", "problem"), [
    ("GET", "/api/agents", Response(200, JSON, envelope({"agents": []})), None),
    ("GET", "/api/agents", Response(404, JSON, error()), None),
    ("GET", "/api/agents", Response(503, JSON, error("SERVICE_UNAVAILABLE")), None),
    ("GET", "/api/agents", Response(201, JSON, envelope({})), "status 201 is not documented"),
    ("GET", "/api/agents", Response(502, JSON, error()), "status 502 is not documented"),
    ("GET", "/api/agents", Response(200, "text/html", b"<p>"), "media type text/html"),
    ("GET", "/api/agents", Response(200, JSON, b'{"data": 1}'), "'success' is a required"),
    ("GET", "/api/agents", Response(404, JSON, b'{"success": false}'), "'error' is a required"),
    ("GET", "/api/agents", Response(200, JSON, b"{"), "not JSON"),
    ("GET", "/api/agents", Response(200, None, envelope({})), "no Content-Type"),
    ("DELETE", f"/api/agents/{ELIZA_ID}", Response(204, None, b""), None),
    ("DELETE", f"/api/agents/{ELIZA_ID}", Response(204, "text/html; charset=utf-8", b""),
     "has no body in the contract"),
    ("GET", "/api/server/ping", Response(200, JSON, b'{"pong": true, "timestamp": 1}'), None),
    ("GET", "/api/server/ping", Response(200, JSON, envelope({})), "'pong' is a required"),
    ("GET", "/api/server/health", Response(503, JSON, json.dumps({
        "status": "DEGRADED", "version": "1", "timestamp": "t",
        "dependencies": {}}).encode()), None),
    ("GET", "/api/server/debug/metrics",
     Response(200, "text/plain; version=1.0.0; charset=utf-8", b"# x"), None),
    # The plugin dispatchers: whatever the plugin answers, the core's refusals checked.
    ("POST", f"/api/agents/{ELIZA_ID}/plugins/p/x", Response(201, "text/plain", b"ok"), None),
    ("GET", "/api/somewhere/else", Response(404, JSON, b'{"oops": 1}'), "'success' is a req"),
    # Outside /api: not in the contract.
    ("GET", "/healthz", Response(200, "text/plain", b"ok"), None),
])
async def test_what_the_check_refuses(app: Any, method: str, path: str, answer: Response,
                                      problem: str | None) -> None:
    found = (await validator_of(app.app)).violation(method, path, answer)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found, found
