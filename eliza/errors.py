"""The API error hierarchy. Each class carries its HTTP status and stable code; the app turns
any of them into `{success: false, error: {code, message, details?}}` in one place."""

from __future__ import annotations

from typing import Any


class StartupError(Exception):
    """A start the operator can fix (the data directory is in use, the database cannot be
    reached): reported as one line, without a traceback."""


class ApiError(Exception):
    """Base of every error a client may see. Subclass per status; pass a code per case."""

    status: int = 500
    code: str = "INTERNAL_ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"success": False, "error": error}


class BadRequest(ApiError):
    status = 400
    code = "BAD_REQUEST"


class InvalidId(BadRequest):
    code = "INVALID_ID"


class Unauthorized(ApiError):
    status = 401
    code = "UNAUTHORIZED"


class Forbidden(ApiError):
    status = 403
    code = "FORBIDDEN"


class NotFound(ApiError):
    status = 404
    code = "NOT_FOUND"


class RunsElsewhere(Exception):
    """The agent a request needs runs on another worker of the deployment: the request is
    carried to that worker (never shown to a client as such)."""

    def __init__(self, agent_id: str, worker_id: str) -> None:
        super().__init__(f"agent {agent_id} runs on worker {worker_id}")
        self.agent_id = agent_id
        self.worker_id = worker_id


class MethodNotAllowed(ApiError):
    status = 405
    code = "METHOD_NOT_ALLOWED"


class AgentNotFound(NotFound):
    code = "AGENT_NOT_FOUND"


class ChannelNotFound(NotFound):
    code = "CHANNEL_NOT_FOUND"


class Conflict(ApiError):
    status = 409
    code = "CONFLICT"


class Gone(ApiError):
    status = 410
    code = "GONE"


class PayloadTooLarge(ApiError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "INVALID_FILE_TYPE"


class MissingSetting(ApiError):
    """An agent whose enabled plugins lack a setting they require is not started;
    `details.missing` lists `{plugin, setting, description}`."""

    status = 422
    code = "MISSING_SETTING"


class RateLimited(ApiError):
    status = 429
    code = "RATE_LIMIT_EXCEEDED"


class ModelNotAvailable(ApiError):
    status = 503
    code = "MODEL_NOT_AVAILABLE"


class AgentTurnFailed(ApiError):
    """The agent took the message in but could not answer it (its model failed, was
    missing or ran out of time); the message says why."""

    status = 502
    code = "AGENT_ERROR"


class ServiceUnavailable(ApiError):
    status = 503
    code = "SERVICE_UNAVAILABLE"


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached (down, restarting, a statement past its deadline).
    Nothing was written; the request can be retried, and the server reconnects by itself."""

    code = "DATABASE_UNAVAILABLE"


class InsufficientStorage(ApiError):
    """A write the data directory cannot take: its disk is full or it is read-only. Only
    writes fail; reads keep working, and writes work again as soon as space is back or the
    disk is writable (no restart). `what` names the storage for the client ("the database",
    "the uploads directory"); the server's own path goes to its log, not to clients."""

    status = 507
    code = "INSUFFICIENT_STORAGE"

    @classmethod
    def disk_full(cls, what: str) -> InsufficientStorage:
        return cls(f"The disk holding {what} is full: writes are refused until space is"
                   " freed (reads still work)", details={"reason": "DISK_FULL", "storage": what})

    @classmethod
    def read_only(cls, what: str) -> InsufficientStorage:
        return cls(f"The disk holding {what} is read-only: writes are refused until it is"
                   " writable again (reads still work)",
                   details={"reason": "READ_ONLY", "storage": what})


# The one table from an HTTP status to its error: the base class of each status above.
_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict, Gone,
                PayloadTooLarge, UnsupportedMediaType, RateLimited, ServiceUnavailable,
                InsufficientStorage)
}


def error_for_status(status: int, message: str) -> ApiError:
    """The error a bare HTTP status stands for (e.g. a 405 raised by the router), with its
    stable code; a status with no class of its own gets code `HTTP_ERROR`."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        error = ApiError(message, code="HTTP_ERROR")
        error.status = status
        return error
    return cls(message)
