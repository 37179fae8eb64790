"""The official ElizaOS web UI (`@elizaos/client`, pinned): installing it into the data
directory from the npm registry, and serving it with the SPA fallback (index.html for
every other non-API path, so the UI's client-side routes load).

The UI is never vendored into this repository: `eliza ui install` fetches it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import mimetypes
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import httpx
import trio
from quart import Response, send_file

UI_PACKAGE = "@elizaos/client"
UI_VERSION = "1.7.2"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
DOWNLOAD_TIMEOUT = 120.0
# A missing JS module gets a 404 instead of index.html, as the original ElizaOS server does,
# so the browser reports the missing file instead of failing to parse HTML as a module.
_JS_MODULE = re.compile(r"(\.js$|\.js\?|/[a-zA-Z0-9_-]+-[A-Za-z0-9]{8}\.js)")

LANDING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>eliza</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>eliza is running</h1>
<p>The ElizaOS web UI is not installed. Install it into the data directory with</p>
<p><code>eliza ui install</code></p>
<p>and reload this page. The API is served under <a href="/api/agents"><code>/api</code></a>
(see <a href="/api/server/ping"><code>/api/server/ping</code></a>,
<a href="/api/agents"><code>/api/agents</code></a>).</p></body></html>
"""


class UiInstallError(RuntimeError):
    pass


def _registry() -> str:
    if shutil.which("npm"):
        out = subprocess.run(["npm", "config", "get", "registry"], capture_output=True,
                             text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip().startswith("http"):
            return out.stdout.strip().rstrip("/")
    return DEFAULT_REGISTRY


def _check_integrity(data: bytes, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in ("sha512", "sha384", "sha256", "sha1"):
        raise UiInstallError(f"unsupported integrity algorithm {algorithm!r}")
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
        raise UiInstallError("the downloaded UI package does not match its registry integrity")


def fetch_ui_tarball(version: str = UI_VERSION) -> bytes:
    """The package tarball, checked against the `dist.integrity` the registry publishes."""
    registry = _registry()
    with httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True) as client:
        meta = client.get(f"{registry}/{UI_PACKAGE.replace('/', '%2F')}/{version}")
        meta.raise_for_status()
        dist = meta.json()["dist"]
        tarball = client.get(dist["tarball"])
        tarball.raise_for_status()
    _check_integrity(tarball.content, dist["integrity"])
    return tarball.content


def install_ui(ui_dir: Path, version: str = UI_VERSION, tarball: bytes | None = None) -> Path:
    """Unpack the package's `dist/` into `ui_dir` (replacing what was there)."""
    data = tarball if tarball is not None else fetch_ui_tarball(version)
    ui_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ui_dir.parent) as tmp:
        staging = Path(tmp) / "ui"
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/dist/")]
            if not any(m.name == "package/dist/index.html" for m in members):
                raise UiInstallError("the package has no dist/index.html")
            archive.extractall(tmp, members=members, filter="data")
        (Path(tmp) / "package" / "dist").rename(staging)
        (staging / ".version").write_text(json.dumps({"package": UI_PACKAGE, "version": version}))
        if ui_dir.exists():
            shutil.rmtree(ui_dir)
        staging.rename(ui_dir)
    return ui_dir


def installed(ui_dir: Path) -> bool:
    return (ui_dir / "index.html").is_file()


def _locate(ui_dir: Path, path: str) -> tuple[Path, Path, bool]:
    root = ui_dir.resolve()
    target = (root / path.lstrip("/")).resolve()
    return root, target, target.is_file()


async def serve_ui_path(ui_dir: Path, path: str) -> Response:
    """A file of the UI, or index.html for client-side routes (the SPA fallback)."""
    root, target, is_file = await trio.to_thread.run_sync(_locate, ui_dir, path)
    if target.is_relative_to(root) and is_file:
        mimetype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        response = await send_file(target, mimetype=mimetype)
        if "/assets/" in path:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
    if _JS_MODULE.search(path):
        return Response(f"// JavaScript module not found: {path}", status=404,
                        content_type="application/javascript")
    return await send_file(root / "index.html", mimetype="text/html")
