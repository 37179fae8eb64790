"""Per-request security: CORS, the API key, rate limits, body checks and security headers.

Everything here runs on every request, so the work is precomputed where it can be
(header sets built once) and cheap checks come first.
"""

from __future__ import annotations

import hmac
from typing import Any

import trio
from quart import Quart, Response, request

from ..errors import BadRequest, PayloadTooLarge, Unauthorized
from ..settings import Settings
from .ratelimit import RateLimiter

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


class Security:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.token = settings.auth_token.encode() if settings.auth_token else None
        self.headers = _security_headers(settings)
        self.api_limiter = RateLimiter(
            "api", settings.api_rate_limit, "RATE_LIMIT_EXCEEDED",
            "Too many requests. Please try again later.",
        )
        self.file_limiter = RateLimiter(
            "files", settings.file_rate_limit, "RATE_LIMIT_EXCEEDED",
            "Too many file operations. Please try again later.",
        )
        self.upload_limiter = RateLimiter(
            "uploads", settings.upload_rate_limit, "RATE_LIMIT_EXCEEDED",
            "Too many upload attempts. Please try again later.",
        )

    def install(self, app: Quart) -> None:
        app.before_request(self.before_request)
        app.after_request(self.after_request)

    async def _finish_body(self, response: Response) -> None:
        """A response sent before its request body was read (an early 404, 401 or 413) would
        leave the rest of the body on a kept-alive connection and stall the client's next
        request on it: drain a small body, and close the connection after a big one."""
        length = request.content_length
        if length is None:
            if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
                response.headers["Connection"] = "close"
            return
        if length <= self.settings.max_json_bytes:
            with trio.move_on_after(BODY_DRAIN_SECONDS):
                await request.get_data()
                return
        response.headers["Connection"] = "close"

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        allowed = self.settings.cors_origin
        if allowed and allowed != "*":
            value = origin if origin and origin in allowed.split(",") else allowed.split(",")[0]
        else:
            value = origin or "*"
        headers = {"Access-Control-Allow-Origin": value, "Vary": "Origin",
                   "Access-Control-Expose-Headers": "X-Total-Count,RateLimit-Limit,"
                   "RateLimit-Remaining,RateLimit-Reset,Retry-After"}
        if value != "*":
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def check_api_key(self, supplied: str | None) -> bool:
        if self.token is None:
            return True
        return supplied is not None and hmac.compare_digest(supplied.encode(), self.token)

    async def before_request(self) -> Any:
        if request.method == "OPTIONS":
            return Response(b"", status=204, headers={  # b"": see agents.delete_agent
                **self.cors_headers(request.headers.get("Origin")),
                "Access-Control-Allow-Methods": CORS_METHODS,
                "Access-Control-Allow-Headers": request.headers.get(
                    "Access-Control-Request-Headers", CORS_HEADERS),
                "Access-Control-Max-Age": "86400",
            })
        path = request.path
        if not path.startswith("/api/"):
            return None
        if not self.check_api_key(request.headers.get("X-API-KEY")):
            raise Unauthorized("Unauthorized: Invalid or missing X-API-KEY")
        if self.settings.rate_limits_enabled:
            request.rate_limit_headers = self.api_limiter.hit(  # type: ignore[attr-defined]
                request.remote_addr or "unknown")
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
        if request.method in BODY_METHODS:
            await self._finish_body(response)
        headers.update(self.headers)
        origin = request.headers.get("Origin")
        if origin is not None or self.settings.cors_origin:
            headers.update(self.cors_headers(origin))
        extra = getattr(request, "rate_limit_headers", None)
        if extra:
            headers.update(extra)
        return response
