"""The `log_stream` Socket.IO events: clients subscribe (`subscribe_logs`), narrow what they
get (`update_log_filters`: `agentName`, `level`) and receive every captured log entry that
matches, as it is logged.

Entries come from any thread (the log capture is a logging handler): they reach trio through
a `ThreadHandoff` (bounded to `LOG_QUEUE`: past it the oldest are dropped and counted), which
sends them to the subscribers.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import trio

from ..handoff import ThreadHandoff
from ..logs import LEVELS
from .socketio import Socket, SocketIOServer

# One drain sends the whole queue to each subscriber at once, so the queue stays well below
# a socket's outbox (256 packets), which a burst would otherwise overrun (the subscriber
# would be dropped).
LOG_QUEUE = 128


class LogStream:
    def __init__(self, sio: SocketIOServer) -> None:
        self.sio = sio
        self.filters: dict[str, dict[str, Any]] = {}  # by subscribed socket id
        # Entries handed to trio; its token is set while the hub runs.
        self.handoff: ThreadHandoff[dict[str, Any]] = ThreadHandoff(LOG_QUEUE, self._send)
        self._in_emit = False
        sio.on("subscribe_logs")(self._on_subscribe)
        sio.on("unsubscribe_logs")(self._on_unsubscribe)
        sio.on("update_log_filters")(self._on_update_filters)

    def forget(self, sid: str) -> None:
        self.filters.pop(sid, None)

    # -- the socket events ------------------------------------------------------------------

    async def _on_subscribe(self, sock: Socket, *_: Any) -> None:
        self.filters[sock.sid] = {}
        sock.emit("log_subscription_confirmed",
                  {"subscribed": True, "message": "Successfully subscribed to log stream"})

    async def _on_unsubscribe(self, sock: Socket, *_: Any) -> None:
        self.filters.pop(sock.sid, None)
        sock.emit("log_subscription_confirmed",
                  {"subscribed": False, "message": "Successfully unsubscribed from log stream"})

    async def _on_update_filters(self, sock: Socket, filters: Any = None, *_: Any) -> None:
        if sock.sid not in self.filters:
            sock.emit("log_filters_updated",
                      {"success": False, "error": "Not subscribed to log stream"})
            return
        if isinstance(filters, dict):
            self.filters[sock.sid].update(
                {k: v for k, v in filters.items() if k in ("agentName", "level")})
        sock.emit("log_filters_updated", {"success": True, "filters": self.filters[sock.sid]})

    # -- entries --------------------------------------------------------------------------

    @property
    def queue(self) -> deque[dict[str, Any]]:
        return self.handoff.queue

    @property
    def dropped(self) -> int:
        return self.handoff.dropped

    @property
    def token(self) -> trio.lowlevel.TrioToken | None:
        return self.handoff.token

    @token.setter
    def token(self, token: trio.lowlevel.TrioToken | None) -> None:
        self.handoff.token = token

    def on_log_entry(self, entry: dict[str, Any]) -> None:
        """Called by the log capture, possibly from a worker thread."""
        if self.filters:
            self.handoff.put(entry)

    def _send(self, entries: list[dict[str, Any]]) -> None:
        if self._in_emit:  # logging from inside an emit must not recurse
            return
        self._in_emit = True
        try:
            for entry in entries:
                for sid, filters in list(self.filters.items()):
                    if matches(entry, filters):
                        self.sio.emit("log_stream", {"type": "log_entry", "payload": entry},
                                      to=sid)
        finally:
            self._in_emit = False


def matches(entry: dict[str, Any], filters: dict[str, Any]) -> bool:
    agent_name = filters.get("agentName")
    if agent_name and agent_name != "all" and entry.get("agentName") != agent_name:
        return False
    level = filters.get("level")
    if level and level != "all":
        return int(entry["level"]) >= LEVELS.get(str(level).lower(), 70)
    return True
