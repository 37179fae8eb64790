"""The Sessions API's own error codes (`SESSION_NOT_FOUND`, `SESSION_EXPIRED`, ...), as the
original ElizaOS server names them, in the `{success:false, error:{code, message}}` form
every other route answers."""

from __future__ import annotations

from ..errors import ApiError, BadRequest, Gone, NotFound


class SessionValidationError(BadRequest):
    """Bad ids, content, pagination or timeout configuration."""

    code = "VALIDATION_ERROR"


class SessionNotFound(NotFound):
    code = "SESSION_NOT_FOUND"


class SessionExpired(Gone):
    code = "SESSION_EXPIRED"


class SessionRenewalFailed(BadRequest):
    code = "SESSION_RENEWAL_FAILED"


class SessionCreationFailed(ApiError):
    code = "SESSION_CREATION_FAILED"


class MessageSendFailed(ApiError):
    code = "MESSAGE_SEND_FAILED"
