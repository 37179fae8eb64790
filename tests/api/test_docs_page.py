"""`GET /api/docs`: Swagger UI for the OpenAPI contract, from assets the server ships (the
swagger-ui-py package), public like the contract itself. Only the listed asset names are
served; any other name or a path that climbs out answers 404 (and needs the key, like any
other /api path).

Against a real server: the test client cannot take the 1.5 MB Swagger UI bundle (the server
hands a body over in 64 KiB pieces, and it buffers ten before the test reads any)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import LiveServer, run_node
from eliza.security.middleware import PUBLIC_API_PATHS
from tests.media.test_live import raw_request
from tests.realtime_e2e.test_web_ui import chromium

KEY = {"X-API-KEY": "secret"}
PNG = b"\x89PNG\r\n\x1a\n"
__all__ = ["chromium"]  # the fixture, shared with the web UI's browser test
ASSETS = ["/api/docs/docs.js", "/api/docs/favicon-32x32.png", "/api/docs/swagger-ui-bundle.js",
          "/api/docs/swagger-ui.css"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server with an API key set for the module (the docs keep no data)."""
    live = LiveServer(tmp_path_factory.mktemp("docs") / ".eliza",
                      {"ELIZA_SERVER_AUTH_TOKEN": "secret"})
    live.start()
    yield live
    live.stop()


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def references(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', page)


def test_the_page_and_its_assets_are_public(http: httpx.Client) -> None:
    assert http.get("/api/agents").status_code == 401  # the key is needed elsewhere
    response = http.get("/api/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    page = response.text
    assert '<div id="swagger-ui">' in page
    assert sorted(ref for ref in references(page) if ref.startswith("/api/docs/")) == ASSETS
    expected_types = {".css": "text/css; charset=utf-8", ".png": "image/png",
                      ".js": "text/javascript; charset=utf-8"}
    bodies = {}
    for asset in ASSETS:
        served = http.get(asset)
        assert served.status_code == 200, asset
        assert served.headers["Content-Type"] == expected_types[Path(asset).suffix], asset
        assert served.headers["Cache-Control"] == "public, max-age=86400", asset
        assert served.headers["ETag"], asset
        bodies[asset] = served.content
    assert b"SwaggerUIBundle" in bodies["/api/docs/swagger-ui-bundle.js"]
    assert len(bodies["/api/docs/swagger-ui-bundle.js"]) > 500_000
    assert b".swagger-ui" in bodies["/api/docs/swagger-ui.css"]
    assert bodies["/api/docs/favicon-32x32.png"].startswith(PNG)
    # The page shows this server's contract.
    assert b'url: "/api/openapi.json"' in bodies["/api/docs/docs.js"]
    # Every path the security layer opens answers without the key (no stale entry).
    for path in sorted(PUBLIC_API_PATHS):
        assert http.get(path).status_code == 200, path


def test_the_page_references_only_local_assets(http: httpx.Client) -> None:
    page = http.get("/api/docs").text
    refs = references(page)
    assert len(refs) >= 4
    for ref in refs:
        assert ref.startswith("/api/"), ref
    assert "http:" not in page
    assert "https:" not in page


def test_an_asset_revalidates_with_its_etag(http: httpx.Client) -> None:
    first = http.get("/api/docs/swagger-ui-bundle.js")
    again = http.get("/api/docs/swagger-ui-bundle.js",
                     headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize("path", [
    "/api/docs/index.html",  # in the package, not listed
    "/api/docs/swagger-ui.js",
    "/api/docs/swagger-ui.css.map",
    "/api/docs/..%2F__init__.py",
    "/api/docs/%2e%2e%2f%2e%2e%2fpyproject.toml",
    "/api/docs/static/swagger-ui.css",
    "/api/docs/",
])
def test_unknown_assets_are_404_and_not_public(http: httpx.Client, path: str) -> None:
    known = http.get(path, headers=KEY)
    assert known.status_code == 404
    assert known.json()["error"]["code"] == "NOT_FOUND"
    # The open paths are exactly the listed ones: anything else still needs the key.
    assert http.get(path).status_code == 401


@pytest.mark.parametrize("target", ["/api/docs/../../pyproject.toml",
                                    "/api/docs/../openapi.json/../../eliza/app.py",
                                    "/api/docs/./../docs_page.py"])
def test_a_path_that_climbs_out_is_404(server: LiveServer, target: str) -> None:
    # Sent verbatim: an HTTP client would resolve the dot segments itself.
    status, answer, _ = raw_request(
        server.port, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                     "X-API-KEY: secret\r\n\r\n")
    assert status == 404, answer[:300]
    assert b"NOT_FOUND" in answer


def test_the_page_and_assets_are_in_the_contract(http: httpx.Client) -> None:
    paths = http.get("/api/openapi.json").json()["paths"]
    assert "text/html" in paths["/api/docs"]["get"]["responses"]["200"]["content"]
    (param,) = paths["/api/docs/{asset}"]["get"]["parameters"]
    assert sorted(f"/api/docs/{name}" for name in param["schema"]["enum"]) == ASSETS
    assert "/api/asyncapi.json" in paths


@pytest.mark.browser
@pytest.mark.node
def test_swagger_ui_renders_the_contract_in_chromium(
        chromium: Path, server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    # (Not `tmp_path`: that would run it again on the PostgreSQL store, which it never uses.)
    tmp_path = tmp_path_factory.mktemp("docs-browser")
    screenshot = tmp_path / "api-docs.png"
    config = {"url": server.url, "tag": "agents", "summary": "List agents",
              "screenshot": str(screenshot), "userDataDir": str(tmp_path / "profile")}
    seen = run_node("docs_page.mjs", json.dumps(config), timeout=120)
    assert "error" not in seen, f"{seen.get('error')}\n{seen.get('bodyText')}"
    assert seen["status"] == 200
    assert {"agents", "memory", "system"} <= set(seen["tags"]), seen["tags"]
    assert seen["operations"] >= 150
    assert seen["title"].startswith("eliza (ElizaOS-compatible agent server)")
    # Everything the page loaded came from this server (no CDN), and all of it loaded.
    assert seen["requests"], seen
    for url in seen["requests"]:
        assert url.startswith(server.url + "/") or url.startswith("data:"), url
    assert f"{server.url}/api/openapi.json" in seen["requests"]
    assert not seen["failed"], seen["failed"]
    assert not seen["consoleErrors"], seen["consoleErrors"]
    print(f"\nAPI docs screenshot: {screenshot}")
    shot = screenshot.read_bytes()
    assert shot.startswith(PNG)
    assert len(shot) > 20_000
