"""A fast path for the hottest read-only routes, answered at the ASGI layer.

Quart's per-request machinery costs about a third of this stack's throughput. Clients poll
`GET /api/server/ping` and `GET /api/agents` constantly, so those (and `/healthz`) are
answered here with the same checks and headers as the Quart pipeline (the Host check, API
key, rate limit, security and CORS headers; these are GETs, so no Origin check); the
`/api/agents` body is cached until an agent changes.
tests/test_fastpath.py checks that both paths answer alike.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .api.agents import agents_listing
from .clock import now_ms
from .errors import ApiError, Unauthorized

if TYPE_CHECKING:
    from .security.middleware import Security
    from .server import AgentServer

Send = Callable[[dict[str, Any]], Awaitable[None]]
Body = Callable[[], bytes]


class FastPath:
    def __init__(self, server: AgentServer, security: Security) -> None:
        self.server = server
        self.security = security
        self._static_headers = [
            (k.lower().encode(), v.encode()) for k, v in security.headers.items()
        ]
        self._agents_cache: tuple[int, bytes] | None = None
        self._routes: dict[str, tuple[bool, Body]] = {
            # path: (is an /api route, body)
            "/api/server/ping": (True, self._ping),
            "/api/runtime/ping": (True, self._ping),
            "/api/agents": (True, self._agents),
            "/healthz": (False, lambda: b'{"status":"ok"}'),
        }

    def lookup(self, scope: dict[str, Any]) -> tuple[bool, Body] | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        return self._routes.get(scope["path"])

    async def serve(self, scope: dict[str, Any], route: tuple[bool, Body], send: Send) -> None:
        is_api, body_fn = route
        # First value of each header, as Quart's `headers.get` reads it; every API key and
        # X-Forwarded-For line.
        headers: dict[str, str] = {}
        keys: list[str] = []
        forwarded: list[str] = []
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers.setdefault(name, value)
            if name == "x-api-key":
                keys.append(value)
            elif name == "x-forwarded-for":
                forwarded.append(value)
        extra: dict[str, str] = {}
        status = 200
        try:
            refused = self.security.host_refusal(headers.get("host"))
            if refused is not None:
                raise refused
            if is_api:
                if not self.security.check_api_key(keys):
                    raise Unauthorized("Unauthorized: Invalid or missing X-API-KEY")
                if self.security.settings.rate_limits_enabled:
                    peer = scope.get("client") or (None, 0)
                    client = self.security.addresses.client(peer[0], forwarded)
                    extra = await self.security.api_limiter.hit(client)
            body = body_fn()
        except ApiError as exc:
            status = exc.status
            extra.update(exc.headers)
            body = json.dumps(exc.to_dict()).encode()
        out = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), *self._static_headers]
        extra.update(self.security.cors_headers(headers.get("origin")))
        out.extend((k.lower().encode(), v.encode()) for k, v in extra.items())
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body})

    def _ping(self) -> bytes:
        return b'{"pong":true,"timestamp":%d}' % now_ms()

    def _agents(self) -> bytes:
        version = self.server.agents.version
        cached = self._agents_cache
        if cached is None or cached[0] != version:
            body = json.dumps(agents_listing(self.server), separators=(",", ":")).encode()
            cached = self._agents_cache = (version, body)
        return cached[1]
