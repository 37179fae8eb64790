"""The Python SDK: `ElizaClient` (REST, httpx) and `open_realtime` (Socket.IO over
trio-websocket). See docs/client.md."""

from ._socket import RealtimeEvent
from .errors import ElizaApiError, RealtimeAuthError, RealtimeError, RealtimeTimeout
from .messaging import Posted
from .realtime import RealtimeClient, open_realtime
from .rest import ElizaClient
from .types import DEFAULT_SERVER_ID

__all__ = [
    "DEFAULT_SERVER_ID",
    "ElizaApiError",
    "ElizaClient",
    "Posted",
    "RealtimeAuthError",
    "RealtimeClient",
    "RealtimeError",
    "RealtimeEvent",
    "RealtimeTimeout",
    "open_realtime",
]
