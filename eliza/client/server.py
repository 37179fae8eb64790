"""`client.server` (`/api/server`: ping, health, status, logs) and `client.system`
(`/api/system`: version and the server's `.env`). These routes answer raw JSON."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from ._http import JSONObject, Service
from .types import LogEntry, LogsPage, Ping


class ServerService(Service):
    async def ping(self) -> Ping:
        return cast(Ping, await self._http.get("/api/server/ping"))

    async def hello(self) -> JSONObject:
        return cast(JSONObject, await self._http.get("/api/server/hello"))

    async def status(self) -> JSONObject:
        """`{status: "ok", agentCount, timestamp}`."""
        return cast(JSONObject, await self._http.get("/api/server/status"))

    async def health(self) -> JSONObject:
        """`{status: "OK", version, timestamp, dependencies}`; with no agent running the
        server answers 503, raised as `ElizaApiError(status=503)`."""
        return cast(JSONObject, await self._http.get("/api/server/health"))

    async def logs(
        self, *, level: str | None = None, agent_name: str | None = None,
        agent_id: str | None = None, since: int | None = None, limit: int | None = None,
    ) -> LogsPage:
        """Recent log entries (oldest first) with counts; `level` is a name (`info`, ...)."""
        return cast(LogsPage, await self._http.get("/api/server/logs", params={
            "level": level, "agentName": agent_name, "agentId": agent_id, "since": since,
            "limit": limit}))

    async def submit_logs(self, entries: Iterable[Mapping[str, Any]]) -> LogsPage:
        """Append entries (`{msg, level?, time?, agentName?, agentId?}`) to the server log."""
        return cast(LogsPage, await self._http.post(
            "/api/server/logs", {"logs": [dict(e) for e in entries]}))

    async def clear_logs(self) -> JSONObject:
        return cast(JSONObject, await self._http.delete("/api/server/logs"))

    async def debug_servers(self) -> JSONObject:
        return cast(JSONObject, await self._http.get("/api/server/debug/servers"))


class SystemService(Service):
    async def version(self) -> JSONObject:
        """`{version, source, timestamp, environment, uptime}`."""
        return cast(JSONObject, await self._http.get("/api/system/version"))

    async def env(self) -> dict[str, str]:
        """The server's local `.env` (loopback or API-key clients only)."""
        return cast("dict[str, str]", await self._http.get("/api/system/env/local"))

    async def update_env(self, values: Mapping[str, str | int | float]) -> JSONObject:
        """Set keys in the server's `.env`: `{updated: [keys]}`."""
        return cast(JSONObject, await self._http.post("/api/system/env/local",
                                                      {"content": dict(values)}))


__all__ = ["LogEntry", "ServerService", "SystemService"]
