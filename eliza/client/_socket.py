"""The realtime connection core: one task owns the websocket, speaks Engine.IO v4 /
Socket.IO v5 through the server's pure codec (`eliza.realtime.codec`), answers pings, feeds
events to a bounded buffer and to registered waiters, and reconnects with backoff. The public
methods live on `RealtimeClient` (realtime.py)."""

from __future__ import annotations

import json
import random
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    wrap_client_stream,
)

from ..realtime.codec import (
    EnginePacketType,
    ProtocolError,
    SocketPacket,
    SocketPacketType,
    decode_engine_packet,
    decode_socket_packet,
    encode_socket_packet,
)
from .errors import RealtimeAuthError, RealtimeError, RealtimeTimeout

Predicate = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class RealtimeEvent:
    """One server event: its name and arguments (`data` is the first argument)."""

    name: str
    args: tuple[Any, ...] = ()

    @property
    def data(self) -> Any:
        return self.args[0] if self.args else None


@dataclass(eq=False)
class _Waiter:
    names: frozenset[str]
    predicate: Predicate | None
    always: frozenset[str] = frozenset()
    done: trio.Event = field(default_factory=trio.Event)
    result: RealtimeEvent | None = None
    error: BaseException | None = None


class _EventBuffer:
    """A bounded single-consumer queue that drops the OLDEST event when full (a slow reader
    never blocks the connection); `dropped` counts them."""

    def __init__(self, size: int) -> None:
        self._items: deque[RealtimeEvent] = deque(maxlen=size)
        self._lot = trio.lowlevel.ParkingLot()
        self.dropped = 0
        self.closed = False

    def put(self, event: RealtimeEvent) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(event)
        self._lot.unpark_all()

    def close(self) -> None:
        self.closed = True
        self._lot.unpark_all()

    async def get(self) -> RealtimeEvent:
        while not self._items:
            if self.closed:
                raise trio.EndOfChannel
            await self._lot.park()
        return self._items.popleft()


class EventStream:
    """An async iterator over the buffer (not an async generator, so `break` leaves nothing
    to finalize)."""

    def __init__(self, buffer: _EventBuffer) -> None:
        self._buffer = buffer

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> RealtimeEvent:
        try:
            return await self._buffer.get()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


def socketio_url(url: str) -> str:
    """`http(s)://host[:port][/prefix]` -> the Engine.IO websocket endpoint."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/") + "/socket.io/"
    return urlunsplit((scheme, parts.netloc, path, "EIO=4&transport=websocket", ""))


def frame(kind: SocketPacketType, data: Any = None, ack_id: int | None = None) -> str:
    return "4" + encode_socket_packet(SocketPacket(kind, data, id=ack_id))


def is_(key: str, value: Any) -> Predicate:
    return lambda data: isinstance(data, dict) and data.get(key) == value


class Connection:
    """The state and the connection task; `RealtimeClient` adds the public API."""

    def __init__(
        self, url: str, *, entity_id: str | None = None, api_key: str | None = None,
        reconnect: bool = True, within: float = 10.0, buffer_size: int = 1000,
        max_backoff: float = 5.0, min_backoff: float = 0.1, outbox_size: int = 256,
    ) -> None:
        self.url = socketio_url(url)
        self.entity_id = entity_id or str(uuid.uuid4())
        self.api_key = api_key
        self.reconnect = reconnect
        self.within = within
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.sid: str | None = None
        self.reconnects = 0  # successful reconnections so far
        self._buffer = _EventBuffer(buffer_size)
        self._waiters: list[_Waiter] = []
        self._acks: dict[int, _Waiter] = {}
        self._next_ack = 0
        self._outbox_send, self._outbox = trio.open_memory_channel[str](outbox_size)
        self._channels: dict[str, dict[str, Any]] = {}  # channel id -> join payload
        self._log_filters: dict[str, Any] | None = None  # None: not subscribed
        self._ws: WebSocketConnection | None = None
        self._closing = False
        self._closed = False

    def closing(self) -> bool:
        """`aclose()` was called (a method, so type checkers do not narrow it)."""
        return self._closing

    # -- waiting --------------------------------------------------------------------------

    @contextmanager
    def _deadline(self, within: float | None, what: str) -> Iterator[None]:
        try:
            with trio.fail_after(self.within if within is None else within):
                yield
        except trio.TooSlowError:
            raise RealtimeTimeout(f"timed out waiting for {what}") from None

    def _expect(self, *names: str, predicate: Predicate | None = None,
                always: frozenset[str] = frozenset()) -> _Waiter:
        """Register interest before the emit that triggers the reply; events named in
        `always` match without the predicate (a `messageError` carries no id)."""
        if self._closed:
            raise RealtimeError("the realtime client is closed")
        waiter = _Waiter(frozenset(names), predicate, always)
        self._waiters.append(waiter)
        return waiter

    async def _await(self, waiter: _Waiter, within: float | None, what: str) -> RealtimeEvent:
        try:
            with self._deadline(within, what):
                await waiter.done.wait()
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None
        return waiter.result

    def _queue(self, text: str) -> None:
        if self._closed:
            raise RealtimeError("the realtime client is closed")
        try:
            self._outbox_send.send_nowait(text)
        except trio.WouldBlock:
            raise RealtimeError("the outbound queue is full (not connected?)") from None

    def _deliver(self, event: RealtimeEvent) -> None:
        for waiter in list(self._waiters):
            if not waiter.done.is_set() and _match(waiter, event):
                waiter.result = event
                waiter.done.set()
                self._waiters.remove(waiter)
        self._buffer.put(event)

    def _fail_acks(self, error: BaseException) -> None:
        for waiter in self._acks.values():
            waiter.error = error
            waiter.done.set()

    def _finish(self, error: BaseException) -> None:
        """No more connections: fail every wait and end `events()`."""
        self._closed = True
        self._fail_acks(error)
        for waiter in self._waiters:
            waiter.error = error
            waiter.done.set()
        self._buffer.close()

    # -- the connection task ---------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Connect, serve, and reconnect with exponential backoff (jittered) until closed."""
        delay = self.min_backoff
        started = False

        def connected() -> None:
            nonlocal started, delay
            if started:
                self.reconnects += 1
            else:
                started = True
                task_status.started()
            delay = self.min_backoff

        while not self.closing():
            try:
                reason = await self._attempt(connected)
            except RealtimeAuthError as exc:
                self._finish(exc)
                raise
            except (OSError, HandshakeError, ConnectionClosed, ProtocolError, RealtimeError,
                    ValueError) as exc:
                if not started:
                    self._finish(RealtimeError(str(exc)))
                    raise RealtimeError(
                        f"cannot connect to {self.url}: {type(exc).__name__} {exc}") from exc
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._ws = None
                self._fail_acks(RealtimeError("the connection was lost"))
            if self.closing():
                break
            self._deliver(RealtimeEvent("disconnect", ({"reason": reason},)))
            if not self.reconnect:
                self._finish(RealtimeError(f"disconnected: {reason}"))
                return
            await trio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.max_backoff)

    async def _attempt(self, connected: Callable[[], None]) -> str:
        """One connection, start to end: returns why it ended, or raises why it could not
        be made. This task opens (and always closes) the TCP stream itself, so a failed
        handshake never leaks a socket."""
        parts = urlsplit(self.url)
        secure = parts.scheme == "wss"
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if secure else 80)
        resource = f"{parts.path}?{parts.query}"
        headers = [(b"x-api-key", self.api_key.encode())] if self.api_key else None
        with self._deadline(None, f"connecting to {self.url}"):
            stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] = (
                await trio.open_ssl_over_tcp_stream(host, port, https_compatible=True)
                if secure else await trio.open_tcp_stream(host, port))
        error: BaseException | None = None
        reason = "connection closed"
        try:
            async with trio.open_nursery() as nursery:
                try:
                    with self._deadline(None, "the websocket handshake"):
                        ws = await wrap_client_stream(nursery, stream, parts.netloc, resource,
                                                      extra_headers=headers,
                                                      message_queue_size=64)
                    try:
                        silence = await self._handshake(ws)
                        connected()
                        reason = await self._serve(ws, silence)
                    finally:
                        with trio.CancelScope(shield=True, deadline=trio.current_time() + 2):
                            await ws.aclose()
                except (OSError, HandshakeError, ConnectionClosed, ProtocolError,
                        RealtimeError, ValueError) as exc:
                    error = exc  # raised below, outside the nursery (no exception group)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)
        if error is not None:
            raise error
        return reason

    async def _handshake(self, ws: WebSocketConnection) -> float:
        """OPEN, then CONNECT with the auth; returns how long silence may last."""
        with self._deadline(None, "the Socket.IO handshake"):
            opened = decode_engine_packet(_text(await ws.get_message()))
            if opened.type is not EnginePacketType.OPEN:
                raise ProtocolError(f"expected an OPEN packet, got {opened.type.name}")
            info = json.loads(opened.data)
            silence = (int(info.get("pingInterval", 25000))
                       + int(info.get("pingTimeout", 20000))) / 1000
            auth: dict[str, Any] = {"entityId": self.entity_id}
            if self.api_key:
                auth["apiKey"] = self.api_key
            await ws.send_message(frame(SocketPacketType.CONNECT, auth))
            while True:
                engine = decode_engine_packet(_text(await ws.get_message()))
                if engine.type is EnginePacketType.PING:
                    await ws.send_message("3")
                elif engine.type is EnginePacketType.CLOSE:
                    raise RealtimeError("the server closed the session during the handshake")
                elif engine.type is EnginePacketType.MESSAGE:
                    packet = decode_socket_packet(engine.data)
                    if packet.type is SocketPacketType.CONNECT:
                        self.sid = str((packet.data or {}).get("sid") or "")
                        return silence
                    if packet.type is SocketPacketType.CONNECT_ERROR:
                        data = packet.data
                        message = data.get("message") if isinstance(data, dict) else data
                        raise RealtimeAuthError(str(message))

    async def _serve(self, ws: WebSocketConnection, silence: float) -> str:
        """Rejoin, then read until the connection ends; returns why it ended."""
        for payload in self._channels.values():  # rejoin before anything queued
            await ws.send_message(frame(SocketPacketType.EVENT,
                                        ["message", {"type": 1, "payload": payload}]))
        if self._log_filters is not None:
            await ws.send_message(frame(SocketPacketType.EVENT, ["subscribe_logs"]))
            if self._log_filters:
                await ws.send_message(frame(SocketPacketType.EVENT,
                                            ["update_log_filters", self._log_filters]))
        self._ws = ws
        self._deliver(RealtimeEvent("connect", ({"sid": self.sid},)))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write, ws)
            try:
                return await self._read(ws, silence)
            except (ConnectionClosed, ProtocolError) as exc:
                return f"{type(exc).__name__}: {exc}"
            finally:
                nursery.cancel_scope.cancel()

    async def _write(self, ws: WebSocketConnection) -> None:
        async for text in self._outbox:
            try:
                await ws.send_message(text)
            except ConnectionClosed:
                return  # the reader sees the close too and ends this connection

    async def _read(self, ws: WebSocketConnection, silence: float) -> str:
        while True:
            with trio.move_on_after(silence) as scope:
                text = await ws.get_message()
            if scope.cancelled_caught:
                await ws.aclose()
                return f"no ping from the server in {silence:.0f}s"
            engine = decode_engine_packet(_text(text))
            if engine.type is EnginePacketType.PING:
                await ws.send_message("3")
            elif engine.type is EnginePacketType.CLOSE:
                return "the server closed the session"
            elif engine.type is EnginePacketType.MESSAGE:
                packet = decode_socket_packet(engine.data)
                if packet.type is SocketPacketType.EVENT:
                    self._deliver(RealtimeEvent(packet.data[0], tuple(packet.data[1:])))
                elif packet.type is SocketPacketType.ACK and packet.id in self._acks:
                    waiter = self._acks[packet.id]
                    waiter.result = RealtimeEvent("ack", tuple(packet.data))
                    waiter.done.set()
                elif packet.type is SocketPacketType.DISCONNECT:
                    return "the server disconnected this socket"


def _text(message: str | bytes) -> str:
    if isinstance(message, bytes):
        raise ProtocolError("binary frames are not supported")
    return message


def _match(waiter: _Waiter, event: RealtimeEvent) -> bool:
    if event.name not in waiter.names:
        return False
    if event.name in waiter.always or waiter.predicate is None:
        return True
    try:
        return bool(waiter.predicate(event.data))
    except Exception:  # a predicate that cannot read this event does not match it
        return False


