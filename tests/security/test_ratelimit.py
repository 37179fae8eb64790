"""Per-IP rate limits on /api: 429 RATE_LIMIT_EXCEEDED with Retry-After and the standard
RateLimit-* headers; a window resets; ELIZA_RATE_LIMIT=off switches limits off."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from conftest import make_settings, open_app
from eliza.security.middleware import ADMITTED_ELSEWHERE
from eliza.settings import RateLimit

A = {"client": ("10.0.0.1", 1000)}
B = {"client": ("10.0.0.2", 1000)}


async def limited_client(tmp_path: Path, limit: int, window: float) -> Any:
    settings = make_settings(tmp_path).with_overrides(
        rate_limits_enabled=True, api_rate_limit=RateLimit(limit, window))
    return open_app(settings)


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Any]:
    async with await limited_client(tmp_path, 3, 60) as app:
        yield app.test_client()


async def test_over_the_limit_is_429_with_headers(limited: Any) -> None:
    remaining = []
    for _ in range(3):
        response = await limited.get("/api/agents", scope_base=A)
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "3"
        assert response.headers["RateLimit-Policy"] == "3;w=60"
        assert 0 < int(response.headers["RateLimit-Reset"]) <= 60
        remaining.append(int(response.headers["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]

    for path in ("/api/agents", "/api/server/ping", "/api/nope"):
        response = await limited.get(path, scope_base=A)
        assert response.status_code == 429
        body = await response.get_json()
        assert body["success"] is False
        assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        assert body["error"]["message"]
        assert 0 < int(response.headers["Retry-After"]) <= 60
        assert response.headers["RateLimit-Remaining"] == "0"
        assert response.headers["RateLimit-Limit"] == "3"

    # Another client has its own budget; non-/api paths are not limited.
    assert (await limited.get("/api/agents", scope_base=B)).status_code == 200
    assert (await limited.get("/healthz", scope_base=A)).status_code == 200


async def test_the_window_resets(tmp_path: Path) -> None:
    window = 1.0  # the three requests fit in one even on a loaded machine
    async with await limited_client(tmp_path, 2, window) as app:
        client = app.test_client()
        # Another client's request first: the first answer pays for building the contract
        # the test client checks answers against.
        assert (await client.get("/api/server/ping", scope_base=B)).status_code == 200
        # Servers sharing a database align their windows to the wall clock: start at the
        # beginning of one (a single process starts it at the first request).
        await trio.sleep(window - time.time() % window)
        statuses = [(await client.get("/api/server/ping", scope_base=A)).status_code
                    for _ in range(3)]
        assert statuses == [200, 200, 429]
        await trio.sleep(window + 0.05)
        assert (await client.get("/api/server/ping", scope_base=A)).status_code == 200


async def test_default_limit_is_1000_per_15_minutes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_RATE_LIMIT="on")
    async with open_app(settings) as app:
        response = await app.test_client().get("/api/server/ping", scope_base=A)
        assert response.headers["RateLimit-Limit"] == "1000"
        assert response.headers["RateLimit-Policy"] == "1000;w=900"


async def test_rate_limit_off(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_RATE_LIMIT="off").with_overrides(
        api_rate_limit=RateLimit(1, 60))
    async with open_app(settings) as app:
        client = app.test_client()
        for _ in range(5):
            response = await client.get("/api/server/ping", scope_base=A)
            assert response.status_code == 200
            assert "RateLimit-Limit" not in response.headers


async def test_a_request_carried_from_another_worker_is_not_counted_again(
        limited: Any) -> None:
    """The internal listener marks what another worker carried here: that worker counted it
    against its client already; counting it here too (under that worker's address, which
    all its carried requests share) would refuse clients that never reached the limit."""
    carried = {**A, ADMITTED_ELSEWHERE: True}
    for _ in range(5):
        assert (await limited.get("/api/nope", scope_base=carried)).status_code == 404
    for _ in range(3):
        assert (await limited.get("/api/nope", scope_base=A)).status_code == 404
    assert (await limited.get("/api/nope", scope_base=A)).status_code == 429
