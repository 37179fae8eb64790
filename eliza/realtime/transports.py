"""Engine.IO v4 transports on Quart: HTTP long-polling, websocket, and the upgrade between them.

Request checks and error answers follow engine.io's `Server.verify`: HTTP 400 with
`{"code": N, "message": ...}`. A browser request from a page of another origin than the
server's and those CORS_ORIGIN lists is refused (403, engine.io's code 4 with the API's error
envelope): a websocket is not covered by CORS at all, and a polling POST can skip the
preflight. Polling responses carry CORS headers for the listed origins only. A websocket
handler's client disconnect arrives as `trio.Cancelled` under quart-trio, so session cleanup
sits in `finally` blocks and stays synchronous.

Websocket fast path (a `FrameWriter`): under hypercorn, outgoing Engine.IO packets skip the
per-frame ASGI/Quart/wsproto layers. The frame of a broadcast is encoded once
(`codec.OutPacket`) and the same bytes are handed to hypercorn's stream for every socket; on
a plain HTTP/1.1 connection they are even written to the socket synchronously by the
broadcaster when nothing is queued (`EngineSession.send_nowait`). The writer comes from
`_hypercorn_direct`, the only module that touches hypercorn's private objects, and only
after checking their shape. Connections that offer a websocket extension (permessage-deflate:
each socket has its own compressor), a hypercorn whose objects are not the expected ones,
and other servers (the Quart test client) use the regular `websocket.send` path.

Several workers: a request for a session this worker does not hold goes to the
`SessionRelay` (when one is set) before Quart sees it, which carries it to the worker
holding the session; a session nobody holds gets the unknown-sid answer as always.
"""

from __future__ import annotations

import logging
from typing import Any, Final, Protocol, final
from urllib.parse import parse_qs

import trio
from quart import Response, current_app, request, websocket
from quart_trio import QuartTrio
from werkzeug.datastructures import Headers, MultiDict

from ..security.origin import OriginPolicy
from ..stalls import DEFAULT_SEND_TIMEOUT, SEND_TIMEOUT_CONFIG, WriteGuard
from ._hypercorn_direct import (
    ASGI_SEND,
    ASGIApp,
    connection_closer,
    keep_asgi_send,
    open_frame_writer,
)
from .codec import ProtocolError, decode_engine_packet, decode_payload, encode_payload
from .engine_errors import EngineError, error_response, forbidden, unavailable
from .engineio import (
    CLOSE_GRACE,
    UPGRADE_TIMEOUT,
    DirectWriter,
    EngineServer,
    EngineSession,
    NotRunningError,
)

logger = logging.getLogger(__name__)

_TEXT: Final = "text/plain; charset=UTF-8"
_TRANSPORTS: Final[frozenset[str]] = frozenset({"polling", "websocket"})


class FrameWriter(DirectWriter, Protocol):
    """Pre-encoded websocket frames into the server's connection of one websocket."""

    @property
    def direct(self) -> bool:
        """Whether `write_nowait` can write at once (otherwise it always returns 0)."""
        ...

    async def write(self, data: bytes) -> None:
        """Write whole frames, after what the connection is already writing."""
        ...


class SessionRelay(Protocol):
    """Reaches the sessions held by the other workers of a deployment."""

    async def carry(self, sid: str, scope: Any, receive: Any, send: Any) -> bool:
        """Carry this request (polling or websocket) to the worker holding session `sid`;
        False, with nothing read or answered, when no other worker holds it."""
        ...


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type=_TEXT)


def _header_dict(headers: Headers) -> dict[str, str]:
    """Lower-case names, repeated headers joined with ", " (as node's `req.headers`)."""
    merged: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


@final
class Transports:
    """The Quart views of one Engine.IO endpoint."""

    def __init__(self, engine: EngineServer, *, cors_origin: str | None) -> None:
        self._engine = engine
        self._origins = OriginPolicy(cors_origin)
        #: Set where several workers serve one deployment.
        self.relay: SessionRelay | None = None

    def register(self, app: QuartTrio, path: str) -> None:
        app.add_url_rule(
            path,
            f"realtime_polling:{path}",
            self._polling_view,
            methods=["GET", "POST", "OPTIONS"],
            provide_automatic_options=False,
        )
        app.add_websocket(path, f"realtime_websocket:{path}", self._websocket_view)
        app.asgi_app = self._relaying(  # type: ignore[method-assign,assignment]
            keep_asgi_send(app.asgi_app), path)

    def _relaying(self, app: ASGIApp, path: str) -> ASGIApp:
        """`app`, with requests for another worker's sessions handed to the relay."""

        async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
            relay = self.relay
            if relay is not None and scope["type"] != "lifespan" and scope["path"] == path:
                sid = parse_qs(scope["query_string"].decode("latin-1")).get("sid", [None])[0]
                if (sid is not None and sid not in self._engine.sessions
                        and await relay.carry(sid, scope, receive, send)):
                    return
            await app(scope, receive, send)

        return asgi_app

    # -- checks shared by both views ---------------------------------------------------------

    def _verify(
        self, args: MultiDict[str, str], method: str, *, upgrade: bool
    ) -> EngineError | None:
        """engine.io's `Server.verify`, in the same order of checks."""
        transport = args.get("transport")
        if transport not in _TRANSPORTS:
            return EngineError.UNKNOWN_TRANSPORT
        if upgrade != (transport == "websocket"):
            return EngineError.BAD_REQUEST
        sid = args.get("sid")
        if sid is not None:
            session = self._engine.sessions.get(sid)
            if session is None:
                return EngineError.UNKNOWN_SID
            if not upgrade and session.transport != transport:
                return EngineError.BAD_REQUEST
            return None
        if method != "GET":
            return EngineError.BAD_HANDSHAKE_METHOD
        if args.get("EIO") != "4":
            return EngineError.UNSUPPORTED_PROTOCOL_VERSION
        return None

    def _refusal(self, headers: Headers) -> str | None:
        return self._origins.refusal(
            headers.get("Origin"), headers.get("Sec-Fetch-Site"), headers.get("Host"))

    def _cors(self, response: Response) -> Response:
        # A listed origin is echoed with credentials, so `withCredentials` XHR polling works.
        response.headers.update(self._origins.cors_headers(request.headers.get("Origin")))
        return response

    # -- HTTP long-polling -------------------------------------------------------------------

    async def _polling_view(self) -> Response:
        response = await self._polling_response()
        if request.method == "POST" and response.status_code >= 400:
            # An error may leave the body unread; hypercorn would then stall the next request
            # on this connection behind the unread bytes, so the connection is not reused.
            response.headers["Connection"] = "close"
        return self._cors(response)

    async def _polling_response(self) -> Response:
        if request.method == "OPTIONS":
            response = Response("", status=204)
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            requested = request.headers.get("Access-Control-Request-Headers")
            if requested:
                response.headers["Access-Control-Allow-Headers"] = requested
            return response
        refusal = self._refusal(request.headers)
        if refusal is not None:
            return forbidden(refusal)
        error = self._verify(request.args, request.method, upgrade=False)
        if error is not None:
            return error_response(error)
        sid = request.args.get("sid")
        if sid is None:
            try:
                session = self._engine.open_session("polling", _header_dict(request.headers))
            except NotRunningError:
                return unavailable()
            # The handshake answer is the poll that collects the queued open packet.
            return await self._poll(session)
        session = self._engine.sessions[sid]
        if request.method == "GET":
            return await self._poll(session)
        if request.method == "POST":
            return await self._post(session)
        return error_response(EngineError.BAD_REQUEST)  # HEAD, which Quart adds to GET routes

    async def _poll(self, session: EngineSession) -> Response:
        if session.poll_busy:
            session.close("overlapping poll from client")
            return _text("", 400)
        session.poll_busy = True
        answered = False
        try:
            packets = await session.next_packets()
            answered = True
        finally:
            session.poll_busy = False
            if not answered:
                # Cancelled: the client went away mid-poll (or the server is stopping).
                session.close("poll connection closed prematurely", flush=False)
        if session.closed:
            packets.append("1")
            session.flushed.set()
        elif not packets:
            packets.append("6")  # released for an upgrade: a noop lets the client pause
        return _text(encode_payload(packets))

    async def _post(self, session: EngineSession) -> Response:
        if session.post_busy:
            session.close("overlapping data request from client")
            return _text("", 400)
        session.post_busy = True
        try:
            return await self._receive_post(session)
        finally:
            session.post_busy = False

    async def _receive_post(self, session: EngineSession) -> Response:
        body = await self._read_body()
        if body is None:
            session.close("payload too large")
            return _text("", 413)
        if request.mimetype == "application/octet-stream":
            session.close("binary payloads are not supported")
            return error_response(EngineError.BAD_REQUEST)
        try:
            packets = decode_payload(body.decode("utf-8"))
        except (UnicodeDecodeError, ProtocolError) as exc:
            logger.info("Engine.IO session %s: bad polling payload: %s", session.sid, exc)
            session.close("parse error")
            return error_response(EngineError.BAD_REQUEST)
        for packet in packets:
            await self._engine.receive_packet(session, packet)
        return _text("ok")

    async def _read_body(self) -> bytes | None:
        """The body, or None when it exceeds maxPayload (chunked bodies are counted too)."""
        limit = self._engine.max_payload
        if request.content_length is not None and request.content_length > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.body:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    # -- websocket ---------------------------------------------------------------------------

    async def _websocket_view(self) -> Response | None:
        refusal = self._refusal(websocket.headers)
        if refusal is not None:
            return forbidden(refusal)
        error = self._verify(websocket.args, "GET", upgrade=True)
        if error is not None:
            return error_response(error)
        sid = websocket.args.get("sid")
        upgrade = sid is not None
        if sid is None:
            try:
                session = self._engine.open_session("websocket", _header_dict(websocket.headers))
            except NotRunningError:
                return unavailable()
        else:
            session = self._engine.sessions[sid]
            if session.transport != "polling" or session.upgrading or session.closed:
                return error_response(EngineError.BAD_REQUEST)
            session.upgrading = True
        # A write the peer does not take within the send timeout closes the connection (a
        # cancel scope cannot end it: hypercorn shields its socket writes).
        guard = WriteGuard(float(current_app.config.get(SEND_TIMEOUT_CONFIG, DEFAULT_SEND_TIMEOUT)),
                           connection_closer(websocket.scope.get(ASGI_SEND)))
        try:
            await websocket.accept()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._close_when_closing, session, nursery.cancel_scope, guard)
                if not upgrade or await self._probe(session, guard):
                    await self._serve(session, guard)
                nursery.cancel_scope.cancel()
        finally:
            if session.transport == "polling":
                # A failed upgrade: the session goes on over polling.
                session.upgrading = session.probed = False
            else:
                session.close("transport close", flush=False)
                session.flushed.set()
        return None

    async def _close_when_closing(self, session: EngineSession, scope: trio.CancelScope,
                                  guard: WriteGuard) -> None:
        """Bound how long this websocket outlives its session (the flush of queued packets),
        a write blocked on a peer that stopped reading included."""
        await session.closing.wait()
        flushing = session.flush_on_close and session.transport == "websocket"
        deadline = trio.current_time() + (CLOSE_GRACE if flushing else 0)
        scope.deadline = min(scope.deadline, deadline)
        guard.cut_off(deadline)

    async def _probe(self, session: EngineSession, guard: WriteGuard) -> bool:
        """The upgrade handshake: `2probe` -> `3probe`, the pending poll released, then `5`."""
        with trio.move_on_after(UPGRADE_TIMEOUT):
            if await websocket.receive() != "2probe":
                return False
            with guard.writing():
                await websocket.send("3probe")
            session.mark_probed()
            if await websocket.receive() != "5":
                return False
            session.complete_upgrade()
            return True
        logger.info("Engine.IO session %s: upgrade timed out", session.sid)
        return False

    async def _serve(self, session: EngineSession, guard: WriteGuard) -> None:
        raw: FrameWriter | None = open_frame_writer(websocket.scope)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_websocket, session)
            if raw is None:
                await self._write_websocket(session, guard)
            else:
                if raw.direct:
                    session.attach_direct(raw)
                try:
                    await self._write_raw(session, raw, guard)
                finally:
                    session.detach_direct()
            nursery.cancel_scope.cancel()

    async def _write_websocket(self, session: EngineSession, guard: WriteGuard) -> None:
        while True:
            # Snapshot first: nothing can be queued after close, so one more drain suffices.
            closed = session.closed
            for packet in await session.next_packets():
                with guard.writing():
                    await websocket.send(packet)
            if closed:
                with guard.writing():
                    await websocket.close(session.ws_code)
                return

    async def _write_raw(self, session: EngineSession, raw: FrameWriter,
                         guard: WriteGuard) -> None:
        """`_write_websocket` with pre-encoded frames, what is queued in few writes."""
        while True:
            closed = session.closed
            data = await session.next_frames()
            if data:
                with guard.writing():
                    await raw.write(data)
            if closed and not session.has_frames:
                with guard.writing():
                    await websocket.close(session.ws_code)
                return

    async def _read_websocket(self, session: EngineSession) -> None:
        limit = self._engine.max_payload
        while not session.closed:
            message = await websocket.receive()
            if isinstance(message, bytes):
                logger.info("Engine.IO session %s: binary frame refused", session.sid)
                session.close("binary frames are not supported", ws_code=1003)
                return
            if _too_big(message, limit):
                session.close("message too big", ws_code=1009)
                return
            try:
                packet = decode_engine_packet(message)
            except ProtocolError as exc:
                logger.info("Engine.IO session %s: %s", session.sid, exc)
                session.close("parse error", ws_code=1002)
                return
            await self._engine.receive_packet(session, packet)


def _too_big(text: str, limit: int) -> bool:
    """UTF-8 size above `limit`, encoding only when the character count cannot decide."""
    if len(text) > limit:
        return True
    return len(text) * 4 > limit and len(text.encode()) > limit
