"""The check every response of the suite goes through (eliza/api/contract_check.py, used by
eliza/testing/contract_client.py and live servers): what it accepts and what it refuses, on
the real app's contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from eliza.api.contract_check import Response, checking_send, validator_of
from eliza.testing.contract_client import ContractClient
from eliza.testing.live import LiveServer, contract_violations
from tests.messaging.helpers import ELIZA_ID

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
    # A plugin's handler may refuse as it likes; a name no plugin has is the core's refusal.
    ("GET", "/api/example/x", Response(404, JSON, b'{"oops": 1}'), None),
    ("GET", f"/api/agents/{ELIZA_ID}/plugins/example/x", Response(400, "text/plain", b"no"),
     None),
    ("GET", f"/api/agents/{ELIZA_ID}/plugins/nosuch/x", Response(404, JSON, b'{"oops": 1}'),
     "'success' is a req"),
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


async def _sent_through_check(app: Any, method: str, path: str, status: int,
                              content_type: str | None, *bodies: bytes) -> None:
    """One answer sent through the ELIZA_CONTRACT_CHECK wrapper of an ASGI `send`."""
    wire: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        wire.append(message)

    checked = checking_send(await validator_of(app.app), {"method": method, "path": path}, send)
    headers = [] if content_type is None else [(b"content-type", content_type.encode())]
    await checked({"type": "http.response.start", "status": status, "headers": headers})
    for index, body in enumerate(bodies):
        await checked({"type": "http.response.body", "body": body,
                       "more_body": index < len(bodies) - 1})
    assert len(wire) == 1 + len(bodies)  # passed on untouched


async def test_the_live_check_logs_each_departure_once_the_answer_is_sent(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    whole = envelope({"agents": []})
    # A documented answer in pieces: nothing logged.
    await _sent_through_check(app, "GET", "/api/agents", 200, JSON, whole[:7], whole[7:])
    await _sent_through_check(app, "DELETE", f"/api/agents/{ELIZA_ID}", 204, None, b"")
    assert not [r for r in caplog.records if "contract violation" in r.getMessage()]
    await _sent_through_check(app, "GET", "/api/agents", 200, JSON, b'{"data":', b" 1}")
    await _sent_through_check(app, "DELETE", f"/api/agents/{ELIZA_ID}", 204, "text/html",
                              b"<p>")
    logged = [r.getMessage() for r in caplog.records if "contract violation" in r.getMessage()]
    assert len(logged) == 2, logged
    assert logged[0].startswith("contract violation: GET /api/agents -> 200: the body")
    assert "'success' is a required property" in logged[0]
    assert logged[1].startswith(f"contract violation: DELETE /api/agents/{ELIZA_ID} -> 204")
    assert "has no body in the contract, got 3 bytes" in logged[1]


def test_live_servers_check_their_answers(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / ".eliza")
    server.start()
    try:
        assert httpx.get(f"{server.url}/api/agents", timeout=10).status_code == 200
        assert httpx.get(f"{server.url}/api/nowhere", timeout=10).status_code == 404
    finally:
        server.stop()
    assert "checking every answer against /api/openapi.json" in server.log()
    assert contract_violations() == []
