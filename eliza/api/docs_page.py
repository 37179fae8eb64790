"""The published contracts and the page that shows them, all public (no API key, like
/healthz; the security layer lists these paths in PUBLIC_API_PATHS):

- `GET /api/docs`: Swagger UI rendering `/api/openapi.json`. Its assets come from the
  `swagger-ui-py` package installed with the server (no CDN), served from a fixed list of
  file names, so no request can name any other file;
- `GET /api/asyncapi.json`: the AsyncAPI 3.0 document of the Socket.IO events
  (eliza/realtime/asyncapi.py).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from quart import Blueprint, Response, current_app, request

from ..errors import NotFound
from ..realtime.asyncapi import asyncapi_document
from .contract import declare
from .inputs import Text

bp = Blueprint("docs", __name__)

SWAGGER_UI_PACKAGE = "swagger_ui"  # the import name of swagger-ui-py
# The assets change only with the installed package: browsers may keep them a day, and
# revalidate with their ETag after that.
ASSET_MAX_AGE = 86_400


@dataclass(frozen=True)
class Asset:
    content_type: str
    file: str | None = None  # in the package's static/ folder; None: `body` below
    body: bytes = b""


# Swagger UI's standalone preset and layout are left out: the page shows one contract.
INITIALIZER = b"""window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""
ASSETS: dict[str, Asset] = {
    "swagger-ui.css": Asset("text/css; charset=utf-8", "swagger-ui.css"),
    "swagger-ui-bundle.js": Asset("text/javascript; charset=utf-8", "swagger-ui-bundle.js"),
    "favicon-32x32.png": Asset("image/png", "favicon-32x32.png"),
    "docs.js": Asset("text/javascript; charset=utf-8", body=INITIALIZER),
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>eliza API</title>
<link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png">
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
<p style="font:14px sans-serif;margin:1rem 1.25rem 0">The HTTP API's contract:
<a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1). The Socket.IO events:
<a href="/api/asyncapi.json">/api/asyncapi.json</a> (AsyncAPI 3.0).</p>
<div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/docs.js"></script>
</body>
</html>
"""


def swagger_ui_static() -> Path | None:
    """The installed package's static/ folder, found without importing the package (its
    import pulls in jinja2 and every framework adapter), or None when it is missing."""
    spec = importlib.util.find_spec(SWAGGER_UI_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@functools.cache
def asset_content(name: str) -> tuple[bytes, str] | None:
    """A listed asset's bytes and ETag (a hash of them), read once per process (about
    1.7 MB in all), or None when the package is missing. Blocking: run it in a thread."""
    asset = ASSETS[name]
    if asset.file is None:
        body = asset.body
    else:
        static = swagger_ui_static()
        if static is None:
            return None
        body = (static / asset.file).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:32]


@bp.get("/api/docs")
@declare("This contract rendered with Swagger UI (public: no API key needed)", tags="system",
         answers={"text/html": {"type": "string"}})
async def docs_page() -> Any:
    return Response(PAGE, content_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-cache"})


@bp.get("/api/docs/<asset>")
@declare("An asset of the docs page (public)", tags="system",
         path={"asset": Text(enum=tuple(ASSETS))},
         answers={"text/css": {"type": "string"}, "text/javascript": {"type": "string"},
                  "image/png": {"type": "string", "format": "binary"}})
async def docs_asset(asset: str) -> Any:
    found = ASSETS.get(asset)
    if found is None:
        raise NotFound(f"No docs asset named {asset!r}")
    content = await trio.to_thread.run_sync(asset_content, asset)
    if content is None:
        raise NotFound("Swagger UI is not installed (the swagger-ui-py package)")
    body, etag = content
    response = Response(body, content_type=found.content_type,
                        headers={"Cache-Control": f"public, max-age={ASSET_MAX_AGE}"})
    response.set_etag(etag)
    return await response.make_conditional(request)


@bp.get("/api/asyncapi.json")
@declare("The AsyncAPI 3.0 document of the Socket.IO events (public: no API key needed)",
         tags="system", answers={"application/json": {"type": "object"}})
async def asyncapi() -> Any:
    # Built once per app: the events are fixed in the code.
    document: dict[str, Any] | None = current_app.config.get("ELIZA_ASYNCAPI")
    if document is None:
        document = current_app.config["ELIZA_ASYNCAPI"] = asyncapi_document()
    return document
