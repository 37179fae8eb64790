"""engine.io's refusals: its error codes and the answers that carry them (HTTP 400 with
`{"code": N, "message": ...}`, as engine.io's `Server.verify` answers), shared by the
transports and by the worker that carries another worker's sessions."""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from quart import Response

from .codec import dumps


class EngineError(IntEnum):
    """engine.io's error codes (`Server.errors`)."""

    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5


_MESSAGES: Final = {
    EngineError.UNKNOWN_TRANSPORT: "Transport unknown",
    EngineError.UNKNOWN_SID: "Session ID unknown",
    EngineError.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    EngineError.BAD_REQUEST: "Bad request",
    EngineError.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


def error_body(code: EngineError) -> str:
    """The body of engine.io's answer (status 400, JSON) to a request it refuses."""
    return dumps({"code": int(code), "message": _MESSAGES[code]})


def error_response(code: EngineError) -> Response:
    return Response(error_body(code), status=400, content_type="application/json")


def forbidden(reason: str) -> Response:
    """engine.io's `allowRequest` refusal, which also reads as the API's error envelope."""
    body = dumps({"code": int(EngineError.FORBIDDEN), "message": reason, "success": False,
                  "error": {"code": "FORBIDDEN", "message": reason}})
    return Response(body, status=403, content_type="application/json")


def unavailable() -> Response:
    body = dumps({"message": "Socket.IO server is not running"})
    return Response(body, status=503, content_type="application/json")
