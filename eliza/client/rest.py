"""`ElizaClient`: the async REST SDK (httpx; runs under trio or asyncio).

    async with ElizaClient("http://127.0.0.1:3000") as client:
        agents = await client.agents.list()

Domains mirror `@elizaos/api-client`: `agents`, `messaging`, `sessions`, `server`, `system`.
Enveloped answers are unwrapped to their `data`; error answers raise `ElizaApiError`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from ._http import Http
from .agents import AgentsService
from .messaging import MessagingService
from .server import ServerService, SystemService
from .sessions import SessionsService

DEFAULT_URL = "http://127.0.0.1:3000"


def default_url() -> str:
    return os.environ.get("ELIZA_URL") or DEFAULT_URL


class ElizaClient:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`base_url` defaults to `$ELIZA_URL` or http://127.0.0.1:3000; `api_key` is sent
        as `X-API-KEY`; `timeout` is per request, in seconds."""
        self.base_url = (base_url or default_url()).rstrip("/")
        self.api_key = api_key
        self._http = Http(self.base_url, api_key=api_key, timeout=timeout, headers=headers,
                          transport=transport)
        self.agents = AgentsService(self._http)
        self.messaging = MessagingService(self._http)
        self.sessions = SessionsService(self._http)
        self.server = ServerService(self._http)
        self.system = SystemService(self._http)

    async def request(self, method: str, path: str, **kw: Any) -> Any:
        """Any route, with the same unwrapping and errors (`params=`, `json_body=`,
        `raw=`)."""
        return await self._http.request(method, path, **kw)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ElizaClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
