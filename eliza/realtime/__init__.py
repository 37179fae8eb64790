"""Trio-native Socket.IO v5 / Engine.IO v4 server (python-socketio's server needs asyncio).

Layout:
- `codec`: pure encode/decode of Engine.IO and Socket.IO text packets (`ProtocolError`).
- `engineio`: Engine.IO sessions, heartbeats and the per-session task.
- `transports`: the Quart views: HTTP long-polling, websocket, the upgrade between them.
- `socketio`: `SocketIOServer` (namespace "/", auth, events, acks, rooms) and `Socket`.
"""

from .codec import ProtocolError as ProtocolError
from .socketio import AuthError as AuthError
from .socketio import Handler as Handler
from .socketio import Socket as Socket
from .socketio import SocketHook as SocketHook
from .socketio import SocketIOServer as SocketIOServer
from .socketio import SocketIOStatistics as SocketIOStatistics

__all__ = [
    "AuthError",
    "Handler",
    "ProtocolError",
    "Socket",
    "SocketHook",
    "SocketIOServer",
    "SocketIOStatistics",
]
