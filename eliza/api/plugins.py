"""`GET /api/plugins`: the installed plugins, what each contributes, and how its bus
listeners are doing. (Not in ElizaOS; `eliza plugins` prints the same list offline.)"""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from .common import ok, server
from .contract import declare

bp = Blueprint("plugins", __name__, url_prefix="/api/plugins")


@bp.get("")
@declare("The installed plugins and what each contributes", tags="plugins")
async def list_plugins() -> Any:
    srv = server()
    listeners = srv.listeners.stats
    rows = await srv.plugin_listing()
    for row in rows:
        name = row["name"]
        row["routes"] = [f"{r.method} {r.path}" for r in srv.routes.get(name, [])]
        row["panels"] = [p.name for p in srv.panels.get(name, [])]
        row["models"] = sorted({p.model_type.value for p in srv.model_providers.get(name, [])})
        row["busListeners"] = [s.to_dict() for s in listeners if s.plugin == name]
    return ok({"plugins": rows})
