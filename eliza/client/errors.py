"""The errors the SDK raises."""

from __future__ import annotations

from typing import Any


class ElizaApiError(Exception):
    """An error answer from the server (or no answer at all), as the api-client reports it.

    `code` is the envelope's error code (`NOT_FOUND`, `INVALID_ID`, `VALIDATION_ERROR`, ...),
    `HTTP_ERROR` when the body has no usable code, `PARSE_ERROR` for a non-JSON error body,
    `TIMEOUT` or `NETWORK_ERROR` when no answer came; `status` is the HTTP status (None
    without an answer)."""

    def __init__(
        self, code: str, message: str, status: int | None = None, details: Any = None
    ) -> None:
        super().__init__(f"{code}: {message}" + (f" (HTTP {status})" if status else ""))
        self.code = code
        self.message = message
        self.status = status
        self.details = details


class RealtimeError(Exception):
    """The realtime connection failed or was lost."""


class RealtimeAuthError(RealtimeError):
    """The server refused the Socket.IO CONNECT (bad API key or entity id)."""


class RealtimeTimeout(RealtimeError, TimeoutError):
    """A realtime wait (connect, join, ack, event) ran past its deadline."""
