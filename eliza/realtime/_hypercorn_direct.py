"""The websocket fast path's use of hypercorn's private connection objects.

hypercorn has no public API for writing ready-made bytes to a websocket, so the frame of a
broadcast, encoded once, reaches each socket through hypercorn's internals: the websocket
stream (`WSStream`: its wsproto connection, stream id, closed flag and the `send` it hands
events to) and, on HTTP/1.1 over plain TCP, the trio `TCPServer`'s send lock and socket.
Any hypercorn or wsproto release may change those objects, hence two guards:

* A start-up check, once per process, when the first websocket served by hypercorn opens:
  the classes, the enum member and the attributes (with their types) the fast path relies
  on. On any mismatch it logs one warning, and every websocket of the process uses the
  public `websocket.send` path.
* A check per socket, before its writer is made: a socket whose objects do not match uses
  the public path (as do connections that offer a websocket extension: permessage-deflate
  compresses per connection, so a shared frame would be wrong).

`connection_closer` uses the same objects for another purpose: hypercorn writes to a socket
with its cancellation shielded, so a write to a peer that stopped reading can only be ended
by closing the socket (`eliza/stalls.py` does it past a deadline).

Only this module touches those objects; `transports.py` sees the `FrameWriter` it returns.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Final, final

import trio

logger = logging.getLogger(__name__)

# Scope key under which `keep_asgi_send`'s wrapper keeps a websocket's ASGI `send`.
ASGI_SEND: Final = "eliza.realtime.asgi_send"
# os.write on a socket's file descriptor is a plain send(2) on POSIX, not on Windows.
_POSIX_SOCKETS: Final = sys.platform != "win32"
_MISSING: Final = object()

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
# A websocket's hypercorn stream, and its TCP server when frames may be written to the socket.
_Objects = tuple["_WSStream", "_TCPServer | None"]


@dataclass(frozen=True)
class Shape:
    """Attributes of one of hypercorn's objects that the fast path reads, with their types."""

    owner: str
    attributes: tuple[tuple[str, type], ...]

    def mismatch(self, obj: object) -> str | None:
        for name, kind in self.attributes:
            value = getattr(obj, name, _MISSING)
            if value is _MISSING:
                return f"{self.owner} has no attribute {name!r}"
            if not isinstance(value, kind):
                return f"{self.owner}.{name} is a {type(value).__name__}, not a {kind.__name__}"
        return None


_IMPORT_ERROR: str | None
try:
    from hypercorn.protocol.events import Data as _HypercornData
    from hypercorn.protocol.h11 import H11Protocol as _H11Protocol
    from hypercorn.protocol.ws_stream import WSStream as _WSStream
    from hypercorn.trio.tcp_server import TCPServer as _TCPServer
    from wsproto.connection import Connection as _WSConnection
    from wsproto.connection import ConnectionState as _WSState
except ImportError as exc:  # pragma: no cover - depends on the installed versions
    _IMPORT_ERROR = f"cannot import hypercorn's or wsproto's internals ({exc})"
    STREAM_SHAPE = TCP_SHAPE = Shape("", ())
else:
    _IMPORT_ERROR = None
    STREAM_SHAPE = Shape(
        "hypercorn's WSStream",
        (("connection", _WSConnection), ("stream_id", int), ("closed", bool)),
    )
    TCP_SHAPE = Shape("hypercorn's TCPServer", (("send_lock", trio.Lock), ("stream", object)))


@final
class HypercornFrameWriter:
    """Pre-encoded websocket frames into hypercorn's connection of one websocket.

    `write` hands bytes (whole frames) to the hypercorn stream, which writes them under its
    connection's send lock, as it does the frames wsproto builds for `websocket.send`.
    `write_nowait` (only when `direct`: HTTP/1.1 over plain TCP) writes to the socket at once
    when hypercorn is not writing to it, and never blocks. Both drop the data once the
    websocket is closing, as hypercorn does for a late `websocket.send`.
    """

    def __init__(self, stream: _WSStream, tcp: _TCPServer | None) -> None:
        self._stream = stream
        self._connection = stream.connection
        self._lock: trio.Lock | None = None
        self._socket: trio.socket.SocketType | None = None
        if tcp is not None:  # checked by `_plain_tcp_server`: a SocketStream, not an SSLStream
            transport: Any = tcp.stream
            self._lock, self._socket = tcp.send_lock, transport.socket

    @property
    def direct(self) -> bool:
        return self._socket is not None

    def _open(self) -> bool:
        return not self._stream.closed and self._connection.state is _WSState.OPEN

    async def write(self, data: bytes) -> None:
        if self._open():
            await self._stream.send(_HypercornData(stream_id=self._stream.stream_id, data=data))

    def write_nowait(self, data: bytes) -> int:
        sock = self._socket
        if sock is None or self._lock is None or self._lock.locked() or not self._open():
            return 0
        fd = sock.fileno()
        if fd < 0:  # closed (and its number possibly reused): never write to it
            return 0
        try:
            return os.write(fd, data)
        except BlockingIOError:
            return 0
        except OSError:
            # The connection broke: leave it to hypercorn's own write and read to notice.
            self._socket = None
            return 0


def keep_asgi_send(app: ASGIApp) -> ASGIApp:
    """Wrap an ASGI app so that a websocket's view can find the server's `send` callable
    (`open_frame_writer`); the scope is copied, never modified."""

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope = {**scope, ASGI_SEND: send}
        await app(scope, receive, send)

    return asgi_app


def open_frame_writer(scope: Mapping[str, Any]) -> HypercornFrameWriter | None:
    """The frame writer of an accepted websocket, or None where only the public path is
    safe: not hypercorn, a hypercorn whose objects do not have the expected shape, or a
    connection that offered an extension."""
    found = _hypercorn_objects(scope.get(ASGI_SEND))
    if found is None or not STARTUP.passes(found):
        return None
    if isinstance(found, str):
        logger.debug("websocket fast path off for one socket: %s", found)
        return None
    for name, value in scope.get("headers", ()):
        if name.lower() == b"sec-websocket-extensions" and value.strip():
            return None  # permessage-deflate compresses per connection
    stream, tcp = found
    return HypercornFrameWriter(stream, tcp)


@final
class StartupCheck:
    """The process's verdict on hypercorn's shape, reached at the first websocket it serves."""

    def __init__(self) -> None:
        self.checked = False
        self.mismatch: str | None = None

    def passes(self, first_socket: _Objects | str) -> bool:
        """Whether the fast path is on in this process. The first call decides, from the
        classes and `first_socket` (its objects, or why they do not match); later sockets
        are only checked on their own, in `open_frame_writer`."""
        if not self.checked:
            self.checked = True
            self.mismatch = _class_mismatch() or (
                first_socket if isinstance(first_socket, str) else None
            )
            if self.mismatch is not None:
                logger.warning(
                    "websocket fast path off (%s; %s): every websocket uses websocket.send",
                    self.mismatch,
                    _versions(),
                )
        return self.mismatch is None


STARTUP = StartupCheck()


def _class_mismatch() -> str | None:
    """What the classes lack (the per-object shapes are checked on the sockets themselves)."""
    if _IMPORT_ERROR is not None:
        return _IMPORT_ERROR
    if "OPEN" not in _WSState.__members__:
        return "wsproto's ConnectionState has no OPEN member"
    if not isinstance(inspect.getattr_static(_WSConnection, "state", None), property):
        return "wsproto's Connection.state is not a property"
    if not dataclasses.is_dataclass(_HypercornData) or {"stream_id", "data"} - {
        field.name for field in dataclasses.fields(_HypercornData)
    }:
        return "hypercorn's Data event is not a dataclass of stream_id and data"
    if not inspect.iscoroutinefunction(getattr(_WSStream, "app_send", None)):
        return "hypercorn's WSStream.app_send is not a coroutine function"
    return None


def _hypercorn_objects(send: object) -> _Objects | str | None:
    """hypercorn's websocket stream and plain-TCP server (None: not HTTP/1.1 on plain TCP)
    behind a websocket's ASGI `send`; None when hypercorn does not serve it, a reason when
    the objects do not have the expected shape."""
    stream = getattr(send, "__self__", None)
    if not type(stream).__module__.startswith("hypercorn."):
        return None  # another server (e.g. Quart's test client): nothing to check
    if _IMPORT_ERROR is not None:
        return _IMPORT_ERROR
    if not isinstance(stream, _WSStream) or getattr(send, "__func__", None) is not (
        _WSStream.app_send
    ):
        return f"a websocket's ASGI send is {send!r}, not hypercorn's WSStream.app_send"
    reason = STREAM_SHAPE.mismatch(stream)
    if reason is not None:
        return reason
    if not callable(getattr(stream, "send", None)):
        return "hypercorn's WSStream.send is not callable"
    tcp = _plain_tcp_server(stream)
    if isinstance(tcp, str):
        return tcp
    return stream, tcp


def _plain_tcp_server(stream: _WSStream) -> _TCPServer | str | None:
    """hypercorn's trio TCPServer behind an HTTP/1.1 websocket stream on plain TCP (what
    `HypercornFrameWriter.write_nowait` writes through); None on HTTP/2, TLS or a platform
    without plain socket writes; a reason when the objects do not have the expected shape."""
    protocol = getattr(stream.send, "__self__", None)
    if not isinstance(protocol, _H11Protocol):
        return None  # HTTP/2: frames go through the stream only
    tcp = getattr(getattr(protocol, "send", None), "__self__", None)
    if not isinstance(tcp, _TCPServer):
        return "hypercorn's H11Protocol.send is not a TCPServer method"
    reason = TCP_SHAPE.mismatch(tcp)
    if reason is not None:
        return reason
    # Annotated as an SSLStream, it is a SocketStream on plain TCP.
    transport: object = tcp.stream
    if not _POSIX_SOCKETS or not isinstance(transport, trio.SocketStream):
        return None  # TLS (an SSLStream), or os.write is not a socket send
    return tcp


def connection_closer(send: object) -> Callable[[], None] | None:
    """A function that closes, at once, the socket of the connection behind an ASGI `send` of
    hypercorn's trio worker (an HTTP or websocket stream, HTTP/1.1 or HTTP/2, TLS or not);
    None for another server. Closing wakes a write blocked on the socket (hypercorn then
    ends the connection as if the peer had gone); calling it twice is harmless."""
    if _IMPORT_ERROR is not None:
        return None
    stream = getattr(send, "__self__", None)
    protocol = getattr(getattr(stream, "send", None), "__self__", None)
    tcp = getattr(getattr(protocol, "send", None), "__self__", None)
    if not isinstance(tcp, _TCPServer):
        return None
    transport: object = getattr(tcp, "stream", None)
    if isinstance(transport, trio.SSLStream):
        transport = transport.transport_stream
    if not isinstance(transport, trio.SocketStream):
        return None
    return transport.socket.close


def _versions() -> str:
    found = []
    for name in ("hypercorn", "wsproto"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)
