"""eliza: an ElizaOS-compatible agent server on Trio.

Layout: `app` (the Quart-Trio app), `server` (AgentServer, the wiring point), `runtime/`
(agents, models, the ELIZA model), `store/` (SQLite), `bus` (in-process events), `api/`
(one blueprint per domain), `realtime/` (Engine.IO/Socket.IO), `security/`, `hookspecs`
and `plugins` (pluggy). Plugin authors import what they need from here.

The names below are resolved on first use (PEP 562), so importing a light submodule such
as `eliza.client` (the SDK) does not pull in pluggy, the runtime or the server.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bus import Event
    from .errors import (
        AgentNotFound,
        ApiError,
        BadRequest,
        Forbidden,
        ModelNotAvailable,
        NotFound,
        Unauthorized,
    )
    from .hookspecs import hookimpl
    from .plugin_api import BusListener, Panel, RequiredSetting, Route
    from .runtime.models import ModelProvider, ModelType, Voice

__version__ = "0.1.0"

# public name -> the submodule that defines it
_LAZY: dict[str, str] = {
    "AgentNotFound": ".errors",
    "ApiError": ".errors",
    "BadRequest": ".errors",
    "Forbidden": ".errors",
    "ModelNotAvailable": ".errors",
    "NotFound": ".errors",
    "Unauthorized": ".errors",
    "BusListener": ".plugin_api",
    "Event": ".bus",
    "ModelProvider": ".runtime.models",
    "ModelType": ".runtime.models",
    "Panel": ".plugin_api",
    "RequiredSetting": ".plugin_api",
    "Route": ".plugin_api",
    "Voice": ".runtime.models",
    "hookimpl": ".hookspecs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AgentNotFound",
    "ApiError",
    "BadRequest",
    "BusListener",
    "Event",
    "Forbidden",
    "ModelNotAvailable",
    "ModelProvider",
    "ModelType",
    "NotFound",
    "Panel",
    "RequiredSetting",
    "Route",
    "Unauthorized",
    "Voice",
    "__version__",
    "hookimpl",
]
