"""`GET /api/system/env` (the server's settings and environment, secrets masked) and
`GET /api/system/capabilities` (what this server can do: models, search, store, bus,
plugins, version).

A value is masked when its name looks like a secret (key, token, secret, password, salt,
credential, auth, private, cookie) and, whatever its name, a URL's password
(`postgresql://user:********@host`). The raw values never leave the server. The env route
lists the whole environment, so it answers only local clients while auth is off, as
`/api/system/env/local` does."""

from __future__ import annotations

import dataclasses
import enum
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quart import Blueprint

from .. import __version__
from ..runtime.models import ModelType
from .common import ok, server
from .contract import declare
from .guards import require_trusted_client

if TYPE_CHECKING:
    from ..server import AgentServer

bp = Blueprint("system_info", __name__, url_prefix="/api/system")

MASK = "********"
_SECRET_NAME = re.compile(
    r"key|token|secret|passw|passphrase|pwd|salt|credential|auth|private|cookie|signature",
    re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)[^@\s]*(?=@)")
# Not a setting: everything read, which the answer lists as `environment`.
_HIDDEN_FIELDS = ("raw",)


def mask(name: str, value: str) -> str:
    """`value` as it may be shown for the setting `name`."""
    if value and _SECRET_NAME.search(name):
        return MASK
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, value)


def _shown(name: str, value: Any) -> Any:
    """A settings value as JSON, with every string in it masked as `name` requires."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _shown(f.name, getattr(value, f.name))
                for f in dataclasses.fields(value) if f.name not in _HIDDEN_FIELDS}
    if isinstance(value, tuple | list | frozenset | set):
        return [_shown(name, item) for item in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, enum.Enum):
        return _shown(name, value.value)
    text = str(value) if isinstance(value, Path) else value
    return mask(name, text if isinstance(text, str) else str(text))


@bp.get("/env")
@declare("The server's settings and environment, secrets masked", tags="system",
         description="Answers {settings, environment}: the settings the server runs with "
                     "and every variable it read (process environment, ./.env, the data "
                     "directory's .env). Secret-like names and URL passwords are masked "
                     f"as {MASK}. Local clients only while auth is off.")
async def env() -> Any:
    require_trusted_client()
    settings = server().settings
    return ok({"settings": _shown("settings", settings),
               "environment": {key: mask(key, value)
                               for key, value in sorted(settings.raw.items())}})


def _models(srv: AgentServer) -> dict[str, Any]:
    by_plugin = {plugin: sorted({p.model_type.value for p in providers})
                 for plugin, providers in srv.model_providers.items() if providers}
    return {"types": sorted({t for types in by_plugin.values() for t in types}),
            "byPlugin": by_plugin, "known": [t.value for t in ModelType]}


def _search(srv: AgentServer) -> dict[str, Any]:
    embedding = [rt.agent_id for rt in srv.agents.runtimes() if rt.embeddings is not None]
    semantic: dict[str, Any] = {"enabled": srv.store.vectors and bool(embedding),
                                "store": srv.store.vectors, "agents": embedding}
    if not srv.store.vectors:
        semantic["reason"] = srv.store.vector_reason
    elif not embedding:
        semantic["reason"] = "no running agent has a TEXT_EMBEDDING model"
    return {"modes": ["auto", "text", "semantic", "hybrid"], "text": {"enabled": True},
            "semantic": semantic}


@bp.get("/capabilities")
@declare("What this server can do: models, search, store, bus, plugins, version",
         tags="system",
         description="Answers {version, environment, models: {types, byPlugin, known}, "
                     "search: {modes, text, semantic: {enabled, store, agents, reason?}}, "
                     "store, bus: {kind, shared}, plugins, realtime, tee, auth}.")
async def capabilities() -> Any:
    srv = server()
    settings = srv.settings
    return ok({
        "version": __version__,
        "environment": settings.environment,
        "models": _models(srv),
        "search": _search(srv),
        "store": srv.store.dialect,
        "bus": {"kind": settings.cluster.bus, "shared": settings.cluster.shared},
        "plugins": srv.plugin_names(),
        "realtime": {"socketio": True, "transports": ["polling", "websocket"],
                     "logStream": ["socketio", "sse"]},
        "tee": "tee" in srv.routes and bool(srv.routes["tee"]),
        "auth": {"apiKey": settings.auth_token is not None},
    })
