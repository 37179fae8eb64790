"""Socket.IO v5 over Engine.IO v4: namespace "/", auth on CONNECT, events, acks and rooms.

Generic: the application registers event handlers and hooks; nothing here knows ElizaOS.
Each Engine.IO session is served by one task (in the nursery of `SocketIOServer.run`) that
handles its packets in order, so a slow handler delays only its own socket.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Concatenate, Final, TypeVar, final

import trio
from quart_trio import QuartTrio

from .. import metrics
from .codec import (
    RESERVED_EVENTS,
    OutPacket,
    ProtocolError,
    SocketPacket,
    SocketPacketType,
    decode_socket_packet,
    encode_socket_packet,
)
from .engineio import EngineServer, EngineSession, TransportName, new_sid
from .transports import SessionRelay, Transports

logger = logging.getLogger(__name__)

# socket.io's connectTimeout: a session that never CONNECTs to a namespace is closed.
CONNECT_TIMEOUT: Final = 45.0
# Bound on the shielded `on_disconnect` call, so shutdown cannot hang on it.
DISCONNECT_TIMEOUT: Final = 5.0


class AuthError(Exception):
    """Raised by `authenticate` to refuse a CONNECT; the client gets `connect_error(message)`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _message(packet: SocketPacket) -> str:
    """A Socket.IO packet wrapped in an Engine.IO MESSAGE packet."""
    return "4" + encode_socket_packet(packet)


def _ack_args(result: Any) -> list[Any]:
    """A handler's return value as ack arguments: a tuple spreads, None sends none."""
    if isinstance(result, tuple):
        return list(result)
    return [] if result is None else [result]


@dataclass(frozen=True, slots=True)
class SocketIOStatistics:
    sockets: int  # connected Socket.IO sockets
    rooms: int  # non-empty rooms
    sessions: int  # Engine.IO sessions, including those not (yet) connected to "/"
    polling: int  # sessions on the polling transport
    websocket: int  # sessions on the websocket transport
    direct: int = 0  # websocket sessions whose frames are written directly (fast path)


@final
class Socket:
    """A client connected to namespace "/"."""

    def __init__(
        self, server: SocketIOServer, session: EngineSession, sid: str, data: dict[str, Any]
    ) -> None:
        self.sid = sid  # the Socket.IO id, distinct from the Engine.IO one (as socket.io does)
        self.eio_sid = session.sid
        self.data = data  # what `authenticate` returned
        self._server = server
        self._session = session
        self._rooms: set[str] = set()
        self._gone = trio.Event()

    @property
    def transport(self) -> TransportName:
        return self._session.transport

    @property
    def connected(self) -> bool:
        return not (self._gone.is_set() or self._session.closed)

    def emit(self, event: str, *args: Any) -> None:
        """Send an event to this socket; synchronous, never blocks (as `SocketIOServer.emit`)."""
        self._server.emit(event, *args, to=self.sid)

    async def disconnect(self) -> None:
        """Disconnect from the server side: the client gets DISCONNECT and does not reconnect.

        Returns once the socket has left the server (rooms left, no emit reaches it);
        `on_disconnect` may still be running. Called from one of this socket's own handlers,
        it cancels that handler, like any handler of a socket that goes away.
        """
        self._send(_message(SocketPacket(SocketPacketType.DISCONNECT)))
        self._session.close("server namespace disconnect")
        await self._gone.wait()

    def _send(self, packet: str | OutPacket) -> None:
        self._session.send_nowait(packet)


Handler = Callable[Concatenate[Socket, ...], Awaitable[Any]]
SocketHook = Callable[[Socket], Awaitable[None]]
Authenticate = Callable[[dict[str, Any] | None, Mapping[str, str]], Awaitable[dict[str, Any]]]
HandlerT = TypeVar("HandlerT", bound=Handler)
HookT = TypeVar("HookT", bound=SocketHook)


@final
class SocketIOServer:
    """A trio-native Socket.IO v5 / Engine.IO v4 server mounted on a QuartTrio app.

    Start it with `await nursery.start(sio.run)` (e.g. in `before_serving`, on `app.nursery`)
    and mount its routes with `sio.register(app)`.

    :param authenticate: called on CONNECT with the client's auth object (None if it sent
        none) and the handshake request headers (lower-case names); returns the data stored
        on `Socket.data`, or raises `AuthError(message)` to answer `connect_error(message)`.
    :param ping_interval: seconds between server pings.
    :param ping_timeout: seconds a client has to answer a ping before it is dropped.
    :param max_payload: largest accepted polling body or websocket message, in bytes.
    :param outbox_size: packets queued per client; a client whose outbox is full is dropped.
    :param cors_origin: the origins besides the server's own whose pages may connect, as
        CORS_ORIGIN lists them (comma-separated, `*` for any; eliza/security/origin.py).
        None: only pages of the server's own origin (and clients that send no Origin).
    """

    def __init__(
        self,
        *,
        authenticate: Authenticate | None = None,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_payload: int = 1_000_000,
        outbox_size: int = 256,
        cors_origin: str | None = None,
    ) -> None:
        self._authenticate = authenticate
        self._engine = EngineServer(
            self._serve_session,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_payload=max_payload,
            outbox_size=outbox_size,
        )
        self._transports = Transports(self._engine, cors_origin=cors_origin)
        self._handlers: dict[str, Handler] = {}
        self._on_connect: SocketHook | None = None
        self._on_disconnect: SocketHook | None = None
        self._sockets: dict[str, Socket] = {}
        self._by_eio_sid: dict[str, Socket] = {}
        self._rooms: dict[str, set[str]] = {}

    # -- registration ------------------------------------------------------------------------

    def on(self, event: str) -> Callable[[HandlerT], HandlerT]:
        """Register `async def handler(sock, *args)` for `event` (one handler per event).

        When the client asked for an ack, the return value is the ack payload: a tuple is
        sent as several arguments, None as no argument. Exceptions are logged with their
        traceback and do not affect the connection.
        """
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved Socket.IO event name")

        def decorator(handler: HandlerT) -> HandlerT:
            if event in self._handlers:
                raise ValueError(f"a handler for {event!r} is already registered")
            self._handlers[event] = handler
            return handler

        return decorator

    def on_connect(self, fn: HookT) -> HookT:
        """Register `async def fn(sock)`, called after a socket connected (once per socket)."""
        if self._on_connect is not None:
            raise ValueError("an on_connect hook is already registered")
        self._on_connect = fn
        return fn

    def on_disconnect(self, fn: HookT) -> HookT:
        """Register `async def fn(sock)`, called exactly once per connected socket that goes
        away (client leaving, timeout, server disconnect or shutdown), after its rooms are left
        and its last handler finished; it runs shielded, bounded by DISCONNECT_TIMEOUT."""
        if self._on_disconnect is not None:
            raise ValueError("an on_disconnect hook is already registered")
        self._on_disconnect = fn
        return fn

    @property
    def handled_events(self) -> frozenset[str]:
        """The names of the events with a handler."""
        return frozenset(self._handlers)

    @property
    def engine(self) -> EngineServer:
        """The Engine.IO layer (its sessions and limits: ping interval, max payload)."""
        return self._engine

    def serve_across(self, sid_prefix: str, relay: SessionRelay | None) -> None:
        """Where several workers serve one deployment: new Engine.IO session ids start with
        `sid_prefix` (naming this worker), and requests for sessions this worker does not
        hold go to `relay`. `("", None)` serves this worker's sessions only again."""
        self._engine.sid_prefix = sid_prefix
        self._transports.relay = relay

    def register(self, app: QuartTrio, path: str = "/socket.io/") -> None:
        """Add the polling (GET/POST/OPTIONS) and websocket routes at `path`."""
        self._transports.register(app, path)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own every session's task (heartbeats, handlers) until cancelled.

        On cancellation every session is closed: pending polls get a close packet, websockets
        still open a close frame (1001), and `on_disconnect` runs for each connected socket.
        (hypercorn drops its open connections before it cancels the lifespan nursery.)
        """
        await self._engine.run(task_status=task_status)

    # -- sending and rooms -------------------------------------------------------------------

    def emit(
        self,
        event: str,
        *args: Any,
        to: str | None = None,
        room: str | None = None,
        skip_sid: str | None = None,
    ) -> None:
        """Send an event to one socket (`to`, a socket sid), a room, or everyone.

        Synchronous and never blocking: the packet is encoded once (a non-JSON argument
        raises here), its websocket frame at most once too, and queued to (or written at
        once to) each target; a target whose outbox is full is disconnected instead. Unknown
        sids and empty rooms are ignored (a socket may have just left). `skip_sid` excludes
        one socket, typically the sender. Call it from the trio thread (from a worker
        thread, through `trio.from_thread.run_sync`).
        """
        if to is not None and room is not None:
            raise ValueError("pass either to= or room=, not both")
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved Socket.IO event name")
        packet = OutPacket(_message(SocketPacket(SocketPacketType.EVENT, [event, *args])))
        if to is not None:
            sids: tuple[str, ...] = (to,)
        elif room is not None:
            sids = tuple(self._rooms.get(room, ()))
        else:
            sids = tuple(self._sockets)
        for sid in sids:
            sock = self._sockets.get(sid)
            if sock is not None and sid != skip_sid:
                sock._send(packet)

    def enter_room(self, sid: str, room: str) -> None:
        """Add a socket to a room; ignored if the socket is gone."""
        sock = self._sockets.get(sid)
        if sock is not None:
            sock._rooms.add(room)
            self._rooms.setdefault(room, set()).add(sid)

    def leave_room(self, sid: str, room: str) -> None:
        """Remove a socket from a room (no error if it was not in it)."""
        sock = self._sockets.get(sid)
        if sock is not None:
            sock._rooms.discard(room)
        members = self._rooms.get(room)
        if members is not None:
            members.discard(sid)
            if not members:
                del self._rooms[room]

    def rooms(self, sid: str) -> set[str]:
        """The rooms a socket has entered (a copy; empty for an unknown sid)."""
        sock = self._sockets.get(sid)
        return set(sock._rooms) if sock is not None else set()

    def statistics(self) -> SocketIOStatistics:
        sessions = self._engine.sessions.values()
        polling = sum(1 for session in sessions if session.transport == "polling")
        return SocketIOStatistics(
            sockets=len(self._sockets),
            rooms=len(self._rooms),
            sessions=len(sessions),
            polling=polling,
            websocket=len(sessions) - polling,
            direct=sum(1 for session in sessions if session.direct),
        )

    # -- per-session protocol ----------------------------------------------------------------

    async def _serve_session(self, session: EngineSession) -> None:
        try:
            with trio.move_on_after(CONNECT_TIMEOUT):
                while session.sid not in self._by_eio_sid:
                    await self._on_message(session, await session.receive_message())
            if session.sid not in self._by_eio_sid:
                session.close("connect timeout")
                return
            while True:
                await self._on_message(session, await session.receive_message())
        finally:
            sock = self._by_eio_sid.pop(session.sid, None)
            if sock is not None:
                self._forget(sock)
                with trio.CancelScope(
                    deadline=trio.current_time() + DISCONNECT_TIMEOUT, shield=True
                ):
                    await self._call_hook("on_disconnect", self._on_disconnect, sock)

    async def _on_message(self, session: EngineSession, text: str) -> None:
        try:
            packet = decode_socket_packet(text)
            if packet.type is SocketPacketType.CONNECT_ERROR:
                raise ProtocolError("CONNECT_ERROR is sent by servers only")
        except ProtocolError as exc:
            # socket.io-client surfaces this as connect_error, a clearer signal than a bare close.
            logger.info("Socket.IO session %s: protocol error: %s", session.sid, exc)
            session.send_nowait(
                _message(SocketPacket(SocketPacketType.CONNECT_ERROR, {"message": str(exc)}))
            )
            session.close("parse error", ws_code=1002)
            return
        if packet.nsp != "/":
            if packet.type is SocketPacketType.CONNECT:
                error = {"message": "Invalid namespace"}
                session.send_nowait(
                    _message(SocketPacket(SocketPacketType.CONNECT_ERROR, error, nsp=packet.nsp))
                )
            return
        sock = self._by_eio_sid.get(session.sid)
        if packet.type is SocketPacketType.CONNECT:
            if sock is None:
                await self._connect(session, packet.data)
            else:
                logger.debug("Socket.IO session %s: repeated CONNECT ignored", session.sid)
        elif sock is None:
            logger.debug("Socket.IO session %s: %s before CONNECT", session.sid, packet.type.name)
        elif packet.type is SocketPacketType.EVENT:
            await self._dispatch(sock, packet)
        elif packet.type is SocketPacketType.DISCONNECT:
            session.close("client namespace disconnect", flush=False)
        # ACK: this server never asks clients for acks, so a stray one is ignored.

    async def _connect(self, session: EngineSession, auth: dict[str, Any] | None) -> None:
        data: dict[str, Any] = {}
        if self._authenticate is not None:
            try:
                data = await self._authenticate(auth, session.headers)
            except AuthError as exc:
                self._refuse(session, exc.message)
                return
            except Exception:
                logger.exception("Socket.IO authenticate failed (session %s)", session.sid)
                self._refuse(session, "Internal server error")
                return
        sid = new_sid()
        while sid in self._sockets:
            sid = new_sid()
        sock = Socket(self, session, sid, data)
        self._sockets[sid] = sock
        metrics.SOCKETS.inc()
        self._by_eio_sid[session.sid] = sock
        sock._send(_message(SocketPacket(SocketPacketType.CONNECT, {"sid": sid})))
        await self._call_hook("on_connect", self._on_connect, sock)

    def _refuse(self, session: EngineSession, message: str) -> None:
        # The Engine.IO session stays open: the client may CONNECT again with other auth.
        packet = SocketPacket(SocketPacketType.CONNECT_ERROR, {"message": message})
        session.send_nowait(_message(packet))

    async def _dispatch(self, sock: Socket, packet: SocketPacket) -> None:
        event, *args = packet.data
        handler = self._handlers.get(event)
        if handler is None:
            logger.debug("Socket.IO: no handler for event %r", event)
            return
        try:
            result = await handler(sock, *args)
        except Exception:
            logger.exception("Socket.IO handler for %r failed (socket %s)", event, sock.sid)
            return
        if packet.id is None:
            return
        try:
            text = _message(SocketPacket(SocketPacketType.ACK, _ack_args(result), id=packet.id))
        except (TypeError, ValueError):
            logger.exception("Socket.IO handler for %r returned a non-JSON ack", event)
            return
        sock._send(text)

    async def _call_hook(self, name: str, hook: SocketHook | None, sock: Socket) -> None:
        if hook is None:
            return
        try:
            await hook(sock)
        except Exception:
            logger.exception("Socket.IO %s hook failed (socket %s)", name, sock.sid)

    def _forget(self, sock: Socket) -> None:
        for room in list(sock._rooms):
            self.leave_room(sock.sid, room)
        del self._sockets[sock.sid]
        metrics.SOCKETS.dec()
        sock._gone.set()
