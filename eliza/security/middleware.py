"""Per-request security: the Host and Origin checks (eliza/security/origin.py), CORS, the
API key, rate limits, body checks and security headers.

Everything here runs on every request, so the work is precomputed where it can be
(header sets built once) and cheap checks come first.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

import trio
from quart import Quart, Response, request, websocket

from ..errors import BadRequest, Forbidden, PayloadTooLarge, Unauthorized
from ..settings import Settings
from .client_ip import ClientAddresses, is_loopback, parse_address
from .origin import HostPolicy, OriginPolicy
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from .rate_sync import RateSync

CORS_METHODS = "GET,POST,PUT,DELETE,PATCH,OPTIONS"
CORS_HEADERS = "Content-Type,Authorization,X-API-KEY,X-Entity-Id,Accept,Idempotency-Key"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BODY_DRAIN_SECONDS = 5.0
BODY_TYPES = ("application/json", "multipart/form-data", "application/x-www-form-urlencoded")


def _security_headers(settings: Settings) -> dict[str, str]:
    dev = settings.environment != "production"
    script = "script-src * 'unsafe-inline' 'unsafe-eval'" if dev else (
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'"
    )
    csp = "; ".join([
        "default-src 'self'",
        "style-src 'self' 'unsafe-inline' https:" + (" http:" if dev else ""),
        script,
        "img-src 'self' data: blob: https: http:",
        "font-src 'self' https: data:" + (" http:" if dev else ""),
        "connect-src 'self' ws: wss: https: http:",
        "media-src 'self' blob: data:",
        "object-src 'none'",
        "frame-src 'self'" + (" data:" if dev else ""),
        "base-uri 'self'",
        "form-action 'self'",
    ])
    headers = {
        "Content-Security-Policy": csp,
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Frame-Options": "SAMEORIGIN",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-XSS-Protection": "0",
    }
    if not dev:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


class HeaderLookup(Protocol):
    """Request headers, looked up by name case-insensitively (Quart's `Headers`)."""

    def get(self, key: str, /) -> str | None: ...


# In the ASGI scope of a request another worker of the deployment carried here (set only by
# the internal listener): that worker checked it and counted it against the client's rate
# limits, so it is not counted again (under the other worker's address, at that).
ADMITTED_ELSEWHERE: Final = "eliza.admitted_elsewhere"


class HeaderList(Protocol):
    """Every value of a request header, in order (Quart's `Headers`)."""

    def getlist(self, key: str) -> list[str]: ...


# Readable without the API key, like /healthz: the published contracts and the page that
# shows them, so a client can read what it may call before it has a key. The page's assets
# are the fixed list of eliza/api/docs_page.py (tests/api/test_docs_page.py checks both agree).
DOCS_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "docs.js")
PUBLIC_API_PATHS = frozenset({"/api/openapi.json", "/api/asyncapi.json", "/api/docs",
                              *(f"/api/docs/{asset}" for asset in DOCS_ASSETS)})


def api_key_matches(token: bytes | None, supplied: Sequence[str]) -> bool:
    """Whether the request's API key values admit it (always, with no key configured). A
    request that repeats the key with different values is refused whichever copy holds the
    key, so a proxy or a path that reads another copy than this one cannot be played against
    it. Every path that checks the key (the fast path, the routes, Socket.IO) uses this."""
    if token is None:
        return True
    if not supplied or any(value != supplied[0] for value in supplied):
        return False
    return hmac.compare_digest(supplied[0].encode(), token)


class Security:
    """`rate_sync`: in a deployment of several workers, what makes the rate limits hold for
    the whole deployment (its `run` task must be running); None counts in this process."""

    def __init__(self, settings: Settings, rate_sync: RateSync | None = None) -> None:
        self.settings = settings
        self.rate_sync = rate_sync
        self.addresses = ClientAddresses(settings.cluster.trusted_proxies)
        self.token = settings.auth_token.encode() if settings.auth_token else None
        self.headers = _security_headers(settings)
        self.origins = OriginPolicy(settings.cors_origin)
        self.hosts = HostPolicy(enabled=self.token is None, bind_host=settings.host,
                                allowed=settings.allowed_hosts)
        self.api_limiter = RateLimiter(
            "api", settings.api_rate_limit, "RATE_LIMIT_EXCEEDED",
            "Too many requests. Please try again later.", rate_sync,
        )
        self.file_limiter = RateLimiter(
            "files", settings.file_rate_limit, "RATE_LIMIT_EXCEEDED",
            "Too many file operations. Please try again later.", rate_sync,
        )
        self.upload_limiter = RateLimiter(
            "uploads", settings.upload_rate_limit, "RATE_LIMIT_EXCEEDED",
            "Too many upload attempts. Please try again later.", rate_sync,
        )

    def install(self, app: Quart) -> None:
        app.before_request(self.before_request)
        app.after_request(self.after_request)
        app.before_websocket(self.before_websocket)

    async def _finish_body(self, response: Response) -> None:
        """A response sent before its request body was read (an early 404, 401 or 413) would
        leave the rest of the body on a kept-alive connection and stall the client's next
        request on it: drain a small body, and close the connection after a big one."""
        length = request.content_length
        if not length:
            if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
                response.headers["Connection"] = "close"
            return
        if length <= self.settings.max_json_bytes:
            with trio.move_on_after(BODY_DRAIN_SECONDS):
                await request.get_data()
                return
        response.headers["Connection"] = "close"

    def client_address(self, peer: str | None, headers: HeaderList) -> str:
        """Whom a request comes from, for the rate limits: the peer, or the client a
        trusted proxy names in X-Forwarded-For (`eliza.security.client_ip`)."""
        if not self.addresses.trusted:
            return peer or "unknown"
        return self.addresses.client(peer, headers.getlist("X-Forwarded-For"))

    def is_local_client(self, peer: str | None, headers: HeaderList) -> bool:
        """Whether a request comes from this machine: a loopback peer relaying no one, or a
        trusted proxy relaying a loopback client. A proxy on this machine that is not in
        ELIZA_TRUSTED_PROXIES relays clients from anywhere, and its forwarding headers
        cannot be believed: its requests are not local."""
        forwarded = headers.getlist("X-Forwarded-For")
        if not forwarded and not headers.getlist("Forwarded"):
            return is_loopback(peer)
        nearest = parse_address(peer) if peer else None
        if not forwarded or nearest is None or not self.addresses.is_trusted(nearest):
            return False  # only X-Forwarded-For is read: a `Forwarded` relay is not local
        return is_loopback(self.addresses.client(peer, forwarded))

    async def hit_file_limits(self, peer: str | None, headers: HeaderList) -> None:
        """An upload or file operation: counted by the upload and file-operation limiters."""
        if not self.settings.rate_limits_enabled:
            return
        client = self.client_address(peer, headers)
        await self.upload_limiter.hit(client)
        await self.file_limiter.hit(client)

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        return self.origins.cors_headers(origin)

    def check_api_key(self, supplied: Sequence[str]) -> bool:
        """`supplied`: every X-API-KEY value of the request (see `api_key_matches`)."""
        return api_key_matches(self.token, supplied)

    def host_refusal(self, host: str | None) -> Forbidden | None:
        reason = self.hosts.refusal(host)
        return None if reason is None else Forbidden(reason)

    def origin_refusal(self, headers: HeaderLookup) -> Forbidden | None:
        """For a request that changes state (or reads a secret): refused when a browser sent
        it from a page of another origin."""
        reason = self.origins.refusal(
            headers.get("Origin"), headers.get("Sec-Fetch-Site"), headers.get("Host"))
        return None if reason is None else Forbidden(reason)

    async def before_websocket(self) -> None:
        # A websocket is not covered by CORS at all: without this a foreign page could open
        # one. The Engine.IO transport checks the Origin too (it also answers polling).
        error = self.host_refusal(websocket.headers.get("Host")) or self.origin_refusal(
            websocket.headers)
        if error is not None:
            raise error

    async def before_request(self) -> Any:
        if request.method == "OPTIONS":
            # A preflight answers 204 either way; an origin not allowed gets no CORS headers,
            # so the browser never sends the request it asked about.
            cors = self.cors_headers(request.headers.get("Origin"))
            if "Access-Control-Allow-Origin" in cors:
                cors.update({
                    "Access-Control-Allow-Methods": CORS_METHODS,
                    "Access-Control-Allow-Headers": request.headers.get(
                        "Access-Control-Request-Headers", CORS_HEADERS),
                    "Access-Control-Max-Age": "86400",
                })
            return Response(b"", status=204, headers=cors)  # b"": see common.no_content
        # Every path, state-changing methods anywhere (root-level plugin routes, Engine.IO
        # posts): a form or `text/plain` POST skips the preflight, so the CORS headers alone
        # would not stop it.
        error = self.host_refusal(request.headers.get("Host"))
        if error is None and request.method in BODY_METHODS:
            error = self.origin_refusal(request.headers)
        if error is not None:
            raise error
        path = request.path
        if not path.startswith("/api/"):
            return None
        if path in PUBLIC_API_PATHS and request.method in ("GET", "HEAD"):
            return None
        if not self.check_api_key(request.headers.getlist("X-API-KEY")):
            raise Unauthorized("Unauthorized: Invalid or missing X-API-KEY")
        if self.settings.rate_limits_enabled and not request.scope.get(ADMITTED_ELSEWHERE):
            request.rate_limit_headers = await self.api_limiter.hit(  # type: ignore[attr-defined]
                self.client_address(request.remote_addr, request.headers))
        if request.method in ("POST", "PUT", "PATCH"):
            length = request.content_length
            if length:
                content_type = request.headers.get("Content-Type", "")
                if not content_type.startswith(BODY_TYPES):
                    raise BadRequest("Invalid or missing Content-Type header",
                                     code="INVALID_CONTENT_TYPE")
                if not content_type.startswith("multipart/") and length > (
                    self.settings.max_json_bytes
                ):
                    raise PayloadTooLarge(
                        f"Request body is larger than {self.settings.max_json_bytes} bytes")
        return None

    async def after_request(self, response: Response) -> Response:
        headers = response.headers
        # Any method may carry a body: an OPTIONS preflight, an unknown method's 405.
        await self._finish_body(response)
        headers.update(self.headers)
        headers.update(self.cors_headers(request.headers.get("Origin")))
        extra = getattr(request, "rate_limit_headers", None)
        if extra:
            headers.update(extra)
        return response
