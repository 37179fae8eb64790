"""`client.agents`: agent CRUD and lifecycle (`/api/agents`)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from ._http import JSONObject, Service
from .errors import ElizaApiError
from .types import AgentSummary, CreatedAgent, LogEntry


class AgentsService(Service):
    async def list(self) -> list[AgentSummary]:
        """Every agent, active ones first: `{id, name, characterName, bio, status}`."""
        data = await self._http.get("/api/agents")
        return cast("list[AgentSummary]", data["agents"])

    async def get(self, agent_id: str) -> JSONObject:
        """The full agent (its character plus `id`, `status`, `enabled`, ...)."""
        return cast(JSONObject, await self._http.get(f"/api/agents/{agent_id}"))

    async def find(self, name_or_id: str | None = None) -> AgentSummary:
        """The agent whose id or name (case-insensitive) matches, or the first active agent
        when `name_or_id` is None. Raises `ElizaApiError("AGENT_NOT_FOUND")`."""
        agents = await self.list()
        if name_or_id is None:
            for agent in agents:
                if agent["status"] == "active":
                    return agent
            raise ElizaApiError("AGENT_NOT_FOUND", "No active agent on this server", 404)
        wanted = name_or_id.strip().lower()
        for agent in agents:
            if agent["id"].lower() == wanted:
                return agent
        for agent in agents:
            if agent["name"].lower() == wanted:
                return agent
        raise ElizaApiError("AGENT_NOT_FOUND", f"No agent named or with id {name_or_id!r}", 404)

    async def create(
        self, character: Mapping[str, Any] | None = None, *, path: str | Path | None = None
    ) -> CreatedAgent:
        """Create (and start) an agent from a character dict, or from a character file
        under the server's characters directory (or an http(s) URL) given as `path`."""
        if (character is None) == (path is None):
            raise ValueError("give exactly one of character or path")
        body = {"characterJson": dict(character)} if character is not None else {
            "characterPath": str(path)}
        return cast(CreatedAgent, await self._http.post("/api/agents", body))

    async def update(self, agent_id: str, changes: Mapping[str, Any]) -> JSONObject:
        return cast(JSONObject, await self._http.patch(f"/api/agents/{agent_id}", dict(changes)))

    async def delete(self, agent_id: str) -> None:
        await self._http.delete(f"/api/agents/{agent_id}")

    async def start(self, agent_id: str) -> JSONObject:
        """`{id, name, status: "active"}`."""
        return cast(JSONObject, await self._http.post(f"/api/agents/{agent_id}/start"))

    async def stop(self, agent_id: str) -> JSONObject:
        """`{message: "Agent stopped"}`; `AGENT_NOT_RUNNING` (404) when it was not running."""
        return cast(JSONObject, await self._http.post(f"/api/agents/{agent_id}/stop"))

    async def logs(
        self, agent_id: str, *, level: str | None = None, since: int | None = None,
        limit: int | None = None,
    ) -> builtins.list[LogEntry]:
        """The server's recent log entries for this agent (and the server-wide ones), oldest
        first. (This server keeps one log; it is filtered by `agentId`.)"""
        page = await self._http.get("/api/server/logs", params={
            "agentId": agent_id, "level": level, "since": since, "limit": limit})
        return cast("builtins.list[LogEntry]", page["logs"])

    async def message_servers(self, agent_id: str) -> builtins.list[JSONObject]:
        data = await self._http.get(f"/api/messaging/agents/{agent_id}/message-servers")
        return cast("builtins.list[JSONObject]", data["messageServers"])

    async def search_memories(
        self, agent_id: str, query: str, *, mode: str = "auto", channel_id: str | None = None,
        room_id: str | None = None, table: str | None = None, limit: int = 20, offset: int = 0,
    ) -> builtins.list[JSONObject]:
        """The agent's memories matching `query`, best first, each with `score` (and
        `similarity` for semantic hits). `mode`: auto, text, semantic or hybrid."""
        body = {"query": query, "mode": mode, "channelId": channel_id, "roomId": room_id,
                "tableName": table, "limit": limit, "offset": offset}
        data = await self._http.post(
            f"/api/memory/{agent_id}/memories/search",
            {key: value for key, value in body.items() if value is not None})
        return cast("builtins.list[JSONObject]", data["memories"])
