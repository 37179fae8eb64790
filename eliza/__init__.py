"""eliza: an ElizaOS-compatible agent server on Trio.

Layout: `app` (the Quart-Trio app), `server` (AgentServer, the wiring point), `runtime/`
(agents, models, the ELIZA model), `store/` (SQLite), `bus` (in-process events), `api/`
(one blueprint per domain), `realtime/` (Engine.IO/Socket.IO), `security/`, `hookspecs`
and `plugins` (pluggy). Plugin authors import what they need from here.
"""

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
from .plugin_api import BusListener, Panel, Route
from .runtime.models import ModelProvider, ModelType

__version__ = "0.1.0"

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
    "Route",
    "Unauthorized",
    "__version__",
    "hookimpl",
]
