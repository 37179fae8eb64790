"""`/api/system`: version and the data directory's `.env`. The env/local routes can write
that `.env`, so they answer only local clients while auth is off, and a write merges keys
instead of replacing the file."""

from __future__ import annotations

import time
from typing import Any

import trio
from dotenv import dotenv_values, set_key
from quart import Blueprint

from .. import __version__
from ..errors import BadRequest
from .common import json_body, ok, server
from .contract import declare, unwrapped
from .guards import require_trusted_client
from .server_routes import iso_now

bp = Blueprint("system", __name__, url_prefix="/api/system")


@bp.get("/version")
@declare("Server version, environment and uptime", tags="system", answers=unwrapped({
    "type": "object", "required": ["version", "source", "timestamp", "environment", "uptime"],
    "properties": {"version": {"type": "string"}, "source": {"const": "server"},
                   "timestamp": {"type": "string"}, "environment": {"type": "string"},
                   "uptime": {"type": "number"}}}))
async def version() -> Any:
    srv = server()
    return {
        "version": __version__,
        "source": "server",
        "timestamp": iso_now(),
        "environment": srv.settings.environment,
        "uptime": time.time() - srv.started_at,
    }


@bp.get("/env/local")
@declare("Read the data directory's .env (local clients only while auth is off)", tags="system")
async def get_env() -> Any:
    require_trusted_client()
    path = server().settings.env_file

    def read() -> dict[str, str]:
        if not path.is_file():
            return {}
        return {k: v or "" for k, v in dotenv_values(path).items()}

    return ok(await trio.to_thread.run_sync(read))


@bp.post("/env/local")
# `content` keeps its own check: its refusal is 400 INVALID_INPUT, as the original's.
@declare("Merge keys into the data directory's .env", tags="system")
async def update_env() -> Any:
    require_trusted_client()
    body = await json_body()
    content = body.get("content")
    if not isinstance(content, dict) or not all(
        isinstance(k, str) and k.strip() and "=" not in k and isinstance(v, str | int | float)
        for k, v in content.items()
    ):
        raise BadRequest("content must be an object of KEY: value pairs", code="INVALID_INPUT")
    path = server().settings.env_file

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        for key, value in content.items():
            set_key(path, key.strip(), str(value), quote_mode="auto")

    await trio.to_thread.run_sync(write)
    return {"success": True, "message": "Local env updated", "data": {"updated": list(content)}}
