"""With ELIZA_SERVER_AUTH_TOKEN set, every /api route (aliases included, read from the url
map) answers 401 without the key and lets the request through with it; a repeated X-API-KEY
is read by one rule on the fast path and the Quart routes alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from conftest import make_settings, open_app
from eliza.security.middleware import PUBLIC_API_PATHS
from eliza.server import AgentServer

from .routes import ALL_METHODS, STATE_CHANGING, http_routes

TOKEN = "matrix-k3y"


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[Any]:
    async with open_app(make_settings(tmp_path, ELIZA_SERVER_AUTH_TOKEN=TOKEN)) as app:
        server: AgentServer = app.app.config["ELIZA_SERVER"]
        server.shutdown_callback = lambda: None  # POST /api/server/stop with the key
        yield app


async def test_every_api_route_needs_the_key(secured: Any) -> None:
    client = secured.test_client()
    routes = http_routes(secured.app, ALL_METHODS, prefix="/api/")
    assert len(routes) > 100
    server: AgentServer = secured.app.config["ELIZA_SERVER"]
    for method, path in routes:
        if path in PUBLIC_API_PATHS:
            continue
        body: dict[str, Any] | None = {} if method in STATE_CHANGING else None
        refused = await client.open(path, method=method, json=body)
        assert refused.status_code == 401, (method, path)
        assert (await refused.get_json())["error"]["code"] == "UNAUTHORIZED"
        wrong = await client.open(path, method=method, json=body,
                                  headers={"X-API-KEY": TOKEN + "x"})
        assert wrong.status_code == 401, (method, path)
        if path.endswith("/logs/stream"):
            continue  # admitted, an event stream never ends (tests/api/test_log_streams.py)
        admitted = await client.open(path, method=method, json=body,
                                     headers={"X-API-KEY": TOKEN})
        assert admitted.status_code != 401, (method, path)
        server.stopping = trio.Event()  # an admitted stop refuses every later request (503)


async def test_only_health_and_non_api_paths_are_public(secured: Any) -> None:
    client = secured.test_client()
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/health")).status_code in (200, 503)  # no 401 either way
    preflight = await client.options("/api/agents")
    assert preflight.status_code == 204
    assert (await client.get("/api/openapi.json")).status_code == 200
    assert (await client.post("/api/openapi.json", json={})).status_code == 401


# -- a repeated X-API-KEY: one rule on both paths --------------------------------------------

def test_a_repeated_key_with_different_values_is_refused(live_server_factory: Any) -> None:
    server = live_server_factory(ELIZA_SERVER_AUTH_TOKEN=TOKEN)
    with httpx.Client(base_url=server.url) as http:
        for path in ("/api/server/ping", "/api/agents",  # the fast path
                     "/api/server/hello", "/api/system/version"):  # Quart
            # The fast path used to read the last copy, the Quart routes the first.
            for keys in (["wrong", TOKEN], [TOKEN, "wrong"], [TOKEN, ""]):
                response = http.get(path, headers=[("X-API-KEY", key) for key in keys])
                assert response.status_code == 401, (path, keys)
                assert response.json()["error"]["code"] == "UNAUTHORIZED"
            same = http.get(path, headers=[("X-API-KEY", TOKEN), ("X-API-KEY", TOKEN)])
            assert same.status_code == 200, path
