"""Trio-native Socket.IO v5 / Engine.IO v4 server (python-socketio's server needs asyncio).

Layout:
- `codec`: pure encode/decode of Engine.IO and Socket.IO text packets (`ProtocolError`).
- `engineio`: Engine.IO sessions, heartbeats and the per-session task.
- `transports`: the Quart views: HTTP long-polling, websocket, the upgrade between them.
- `socketio`: `SocketIOServer` (namespace "/", auth, events, acks, rooms) and `Socket`.

The names below are resolved on first use (PEP 562): the SDK (`eliza.client`) imports only
`codec`, and must not pull in Quart through `transports`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .codec import ProtocolError as ProtocolError
    from .socketio import AuthError as AuthError
    from .socketio import Handler as Handler
    from .socketio import Socket as Socket
    from .socketio import SocketHook as SocketHook
    from .socketio import SocketIOServer as SocketIOServer
    from .socketio import SocketIOStatistics as SocketIOStatistics


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = ".codec" if name == "ProtocolError" else ".socketio"
    return getattr(import_module(module, __name__), name)


__all__ = [
    "AuthError",
    "Handler",
    "ProtocolError",
    "Socket",
    "SocketHook",
    "SocketIOServer",
    "SocketIOStatistics",
]
