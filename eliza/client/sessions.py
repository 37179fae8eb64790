"""`client.sessions`: the sessions API (`/api/messaging/sessions`), raw JSON answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from ._http import JSONObject, Service, to_ms
from .messaging import Cursor
from .types import Session, SessionMessages, SessionTransport

SESSIONS = "/api/messaging/sessions"


class SessionsService(Service):
    async def health(self) -> JSONObject:
        """`{status: "healthy", activeSessions, expiringSoon, timestamp, uptime}`."""
        return cast(JSONObject, await self._http.get(f"{SESSIONS}/health"))

    async def create(
        self, agent_id: str, user_id: str, *, metadata: Mapping[str, Any] | None = None,
        timeout_config: Mapping[str, Any] | None = None,
    ) -> Session:
        body: JSONObject = {"agentId": agent_id, "userId": user_id}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if timeout_config is not None:
            body["timeoutConfig"] = dict(timeout_config)
        return cast(Session, await self._http.post(SESSIONS, body))

    async def get(self, session_id: str) -> Session:
        return cast(Session, await self._http.get(f"{SESSIONS}/{session_id}"))

    async def list(self) -> JSONObject:
        """`{sessions, total, stats}` (active sessions only)."""
        return cast(JSONObject, await self._http.get(SESSIONS))

    async def send(
        self, session_id: str, content: str, *, transport: SessionTransport | None = None,
        attachments: Iterable[Mapping[str, Any]] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> JSONObject:
        """Send a user message: `{userMessage, sessionStatus}`; with `transport="http"` the
        server waits for the agent and adds `agentResponse`."""
        body: JSONObject = {"content": content}
        if transport is not None:
            body["transport"] = transport
        if attachments is not None:
            body["attachments"] = [dict(a) for a in attachments]
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return cast(JSONObject, await self._http.post(f"{SESSIONS}/{session_id}/messages", body))

    async def messages(
        self, session_id: str, *, limit: int | None = None, before: Cursor = None,
        after: Cursor = None,
    ) -> SessionMessages:
        """`{messages (newest first), hasMore, cursors}`."""
        return cast(SessionMessages, await self._http.get(
            f"{SESSIONS}/{session_id}/messages",
            params={"limit": limit, "before": to_ms(before), "after": to_ms(after)}))

    async def renew(self, session_id: str) -> Session:
        return cast(Session, await self._http.post(f"{SESSIONS}/{session_id}/renew"))

    async def heartbeat(self, session_id: str) -> Session:
        return cast(Session, await self._http.post(f"{SESSIONS}/{session_id}/heartbeat"))

    async def delete(self, session_id: str) -> None:
        await self._http.delete(f"{SESSIONS}/{session_id}")
