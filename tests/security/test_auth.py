"""The API key (ELIZA_SERVER_AUTH_TOKEN): required on every /api route as X-API-KEY,
compared in constant time; OPTIONS, /healthz and non-/api paths stay open; a rejection is a
JSON 401 in the error envelope (the api-client then reports code UNAUTHORIZED)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conftest import make_settings, open_app
from eliza import ids

TOKEN = "s3cret-token"
PROTECTED = [("GET", "/api/agents"), ("GET", f"/api/agents/{ids.string_to_uuid('Eliza')}"),
             ("POST", "/api/agents"), ("GET", "/api/server/ping"), ("GET", "/api/runtime/ping"),
             ("GET", "/api/server/health"), ("GET", "/api/system/version"),
             ("GET", "/api/nope")]


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[Any]:
    settings = make_settings(tmp_path, ELIZA_SERVER_AUTH_TOKEN=TOKEN,
                             CORS_ORIGIN="http://ui.example")
    async with open_app(settings) as app:
        yield app.test_client()


async def test_api_needs_the_right_key(secured: Any) -> None:
    for key in (None, "", "wrong", TOKEN + "x", TOKEN[:-1], TOKEN.upper()):
        for method, path in PROTECTED:
            headers = {} if key is None else {"X-API-KEY": key}
            response = await secured.open(path, method=method, headers=headers)
            assert response.status_code == 401, (key, path)
            assert response.headers["Content-Type"].startswith("application/json")
            body = await response.get_json()
            assert body["success"] is False
            assert body["error"]["code"] == "UNAUTHORIZED"
            assert "X-API-KEY" in body["error"]["message"]


@pytest.mark.parametrize("header", ["X-API-KEY", "x-api-key", "X-Api-Key"])
async def test_api_with_the_key_works(secured: Any, header: str) -> None:
    response = await secured.get("/api/agents", headers={header: TOKEN})
    assert response.status_code == 200
    assert (await response.get_json())["data"]["agents"][0]["name"] == "Eliza"
    response = await secured.get("/api/nope", headers={header: TOKEN})
    assert response.status_code == 404  # past auth, the usual JSON 404


async def test_options_preflight_passes_without_the_key(secured: Any) -> None:
    response = await secured.options("/api/agents", headers={
        "Origin": "http://ui.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key,content-type"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://ui.example"
    assert "x-api-key" in response.headers["Access-Control-Allow-Headers"].lower()


async def test_healthz_and_non_api_paths_are_open(secured: Any) -> None:
    response = await secured.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}
    for path in ("/", "/chat/123", "/media/uploads/agents/x/y.png", "/favicon.ico"):
        assert (await secured.get(path)).status_code != 401, path


async def test_auth_off_needs_no_key(client: Any) -> None:
    for method, path in PROTECTED:
        response = await client.open(path, method=method, json={} if method == "POST" else None)
        assert response.status_code != 401, path
    # A key sent to a server without auth is simply ignored.
    response = await client.get("/api/agents", headers={"X-API-KEY": "anything"})
    assert response.status_code == 200


async def test_the_key_is_compared_in_constant_time(secured: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert (await secured.get("/api/agents", headers={"X-API-KEY": "nope"})).status_code == 401
    assert (await secured.get("/api/agents", headers={"X-API-KEY": TOKEN})).status_code == 200
    assert (b"nope", TOKEN.encode()) in calls
    assert (TOKEN.encode(), TOKEN.encode()) in calls
