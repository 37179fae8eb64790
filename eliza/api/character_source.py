"""Where a new agent's character comes from: inline JSON, a file under the characters
directory, or a public http(s) URL. No path escapes that directory and no URL reaches a
private or loopback address, so a request cannot read the server's files or probe its
network."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from ..errors import BadRequest, Forbidden
from .common import server
from .inputs import loads

MAX_CHARACTER_BYTES = 2 * 1024 * 1024
FETCH_TIMEOUT = 10.0


async def load_character(body: dict[str, Any]) -> dict[str, Any]:
    if isinstance(body.get("characterJson"), dict):
        return dict(body["characterJson"])
    if isinstance(body.get("agent"), dict):
        return dict(body["agent"])
    path = body.get("characterPath")
    if isinstance(path, str) and path.strip():
        if path.startswith(("http://", "https://")):
            return await _fetch_character(path)
        return await _read_character_file(path)
    raise BadRequest("No character configuration provided",
                     details="Send characterJson, characterPath or agent")


async def _read_character_file(path: str) -> dict[str, Any]:
    base = server().settings.characters_dir.resolve()
    candidate = Path(path)
    target = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if not target.is_relative_to(base):
        raise Forbidden(f"characterPath must be inside the characters directory {base}")
    if not await trio.to_thread.run_sync(target.is_file):
        raise BadRequest(f"Character file not found: {path}")
    raw = await trio.Path(target).read_bytes()
    return _parse(raw, path)


async def _fetch_character(url: str) -> dict[str, Any]:
    host = urlsplit(url).hostname
    if not host:
        raise BadRequest(f"Not a valid URL: {url}")
    try:
        infos = await trio.socket.getaddrinfo(host, None)
    except OSError as exc:
        raise BadRequest(f"Cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise Forbidden(f"characterPath URL resolves to a non-public address ({address})")
    try:
        with trio.fail_after(FETCH_TIMEOUT):
            async with httpx.AsyncClient(follow_redirects=False, timeout=FETCH_TIMEOUT) as client:
                response = await client.get(url)
    except (httpx.HTTPError, trio.TooSlowError) as exc:
        raise BadRequest(f"Could not fetch the character: {exc}") from None
    if response.status_code != 200:
        raise BadRequest(f"Could not fetch the character: HTTP {response.status_code}")
    return _parse(response.content, url)


def _parse(raw: bytes, source: str) -> dict[str, Any]:
    if len(raw) > MAX_CHARACTER_BYTES:
        raise BadRequest(f"Character file {source} is larger than 2 MB")
    try:
        data = loads(raw, "character")
    except BadRequest as exc:
        raise BadRequest(f"Character file {source}: {exc.message}",
                         details=exc.details) from None
    if not isinstance(data, dict):
        raise BadRequest(f"Character file {source} must hold a JSON object")
    return data
