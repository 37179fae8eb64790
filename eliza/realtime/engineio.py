"""Engine.IO v4 sessions: the registry, heartbeats, packet intake and the per-session task.

An `EngineSession` outlives any single HTTP request or websocket, so everything that spans
a session's life (the heartbeat, the handler that consumes its messages, the final cleanup)
runs as one task in the nursery owned by `EngineServer.run`. The transports (`transports.py`)
only move packets between a session's queues and the network.

Every queue is bounded: outgoing packets go through `send_nowait`, which closes a session
whose outbox is full (a consumer that does not keep up is dropped, it can reconnect);
incoming messages wait at most `ping_timeout` for room before the session is closed.

Fan-out fast path: a websocket transport that can write pre-encoded frames straight to its
connection attaches a `DirectWriter`. While the session's outbox is empty and its writer task
holds nothing, `send_nowait` writes the packet's (shared, encoded-once) frame at once, with no
task wakeup; anything that cannot be written at once (a full socket buffer, hypercorn busy
writing) goes through the outbox and the writer task as before, so order and the slow-consumer
cut-off are unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final, Literal, Protocol, final

import trio

from .codec import EnginePacket, EnginePacketType, OutPacket, open_packet

logger = logging.getLogger(__name__)

TransportName = Literal["polling", "websocket"]

# engine.io's upgradeTimeout: how long a probe websocket may take to finish the upgrade.
UPGRADE_TIMEOUT: Final = 10.0
# How long a closing session waits for its transport to deliver the last queued packets.
CLOSE_GRACE: Final = 5.0
# Incoming messages waiting for the session's handler; the reader blocks beyond this.
INBOUND_SIZE: Final = 64
# Frames `next_frames` joins into one write stop at this size (a bigger frame goes alone,
# uncopied): each socket's copy of the frames a broadcast shares stays this small.
FRAME_BATCH: Final = 64 * 1024


class NotRunningError(RuntimeError):
    """A session was requested while `EngineServer.run` is not running."""


# What the layer above (Socket.IO) provides: consumes `session.receive_message()` for the
# session's whole life. It runs once per session inside the session's task and is cancelled
# when the session closes, so its cleanup belongs in `finally` (shielded if it must await).
SessionServer = Callable[["EngineSession"], Awaitable[None]]

_PING: Final = EnginePacket(EnginePacketType.PING).encode()


class DirectWriter(Protocol):
    """Writes bytes to a websocket's connection synchronously, without blocking."""

    def write_nowait(self, data: bytes) -> int:
        """Write what fits now; returns the number of bytes written (0 when nothing can be
        written now, e.g. the socket buffer is full or another write is in progress)."""
        ...


def new_sid(prefix: str = "") -> str:
    """`prefix` and 20 URL-safe characters, the shape engine.io's base64id produces."""
    return prefix + secrets.token_urlsafe(15)


@final
class EngineSession:
    """One Engine.IO connection, whichever transport currently carries it."""

    def __init__(
        self,
        sid: str,
        transport: TransportName,
        headers: dict[str, str],
        *,
        outbox_size: int,
        message_timeout: float,
    ) -> None:
        self.sid = sid
        self.transport: TransportName = transport
        #: Headers of the request that opened the session, lower-case names.
        self.headers = headers
        #: A probe websocket is attached (only one upgrade attempt at a time).
        self.upgrading = False
        #: The probe answered `3probe`: pending polls are released so the client can pause.
        self.probed = False
        #: Set while a GET / POST is in progress: engine.io refuses overlapping ones.
        self.poll_busy = False
        self.post_busy = False
        self.close_reason: str | None = None
        #: Whether queued packets should still be delivered after `close`.
        self.flush_on_close = True
        #: Websocket close code used by the websocket transport when the session closes.
        self.ws_code = 1000
        self.scope = trio.CancelScope()
        self.closing = trio.Event()
        self.flushed = trio.Event()
        self._message_timeout = message_timeout
        self._pong = trio.Event()
        self._waiter: trio.CancelScope | None = None
        self._outbox: deque[OutPacket] = deque()
        self._outbox_size = outbox_size
        self._wakeup: trio.Event | None = None
        #: Set while a direct writer is attached (see the module docstring).
        self._direct: DirectWriter | None = None
        #: The rest of a frame the direct writer wrote only in part: it goes out first.
        self._partial = b""
        #: The writer task holds frames it has not finished writing (no direct write then).
        self._in_flight = False
        self._in_send, self._in_recv = trio.open_memory_channel[str](INBOUND_SIZE)

    @property
    def closed(self) -> bool:
        return self.close_reason is not None

    @property
    def direct(self) -> bool:
        """Whether a direct writer is attached (the websocket fast path)."""
        return self._direct is not None

    @property
    def has_frames(self) -> bool:
        """Whether anything is left for `next_frames`."""
        return bool(self._outbox or self._partial)

    def send_nowait(self, packet: str | OutPacket) -> bool:
        """Queue an encoded Engine.IO packet (or write it at once, see the module docstring);
        never blocks. Pass one `OutPacket` to every target of a broadcast so that it is encoded
        once.

        Returns False if the packet was dropped: the session is closed, or its outbox was
        full, in which case the session is closed now (its client is too slow).
        """
        if self.closed:
            return False
        if isinstance(packet, str):
            packet = OutPacket(packet)
        direct = self._direct
        if direct is not None and not (self._outbox or self._partial or self._in_flight):
            frame = packet.frame
            written = direct.write_nowait(frame)
            if written >= len(frame):
                return True
            if written:
                self._partial = frame[written:]
                self._wake()
                return True
        if len(self._outbox) >= self._outbox_size:
            logger.warning("Engine.IO session %s: outbox full, disconnecting", self.sid)
            self.close("outbox full", flush=False)
            return False
        self._outbox.append(packet)
        self._wake()
        return True

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def attach_direct(self, writer: DirectWriter) -> None:
        """Let `send_nowait` write through `writer` while nothing is queued (websocket only)."""
        self._direct = writer
        self._in_flight = False

    def detach_direct(self) -> None:
        self._direct = None
        self._partial = b""  # its connection is gone: the rest of that frame has nowhere to go

    def close(self, reason: str, *, flush: bool = True, ws_code: int = 1000) -> None:
        """Close the session (idempotent, synchronous).

        `flush=False` when the peer cannot receive anything any more (it went away, timed out
        or stopped reading). The session task is cancelled; transports notice `closing`.
        """
        if self.closed:
            return
        logger.debug("Engine.IO session %s closing: %s", self.sid, reason)
        self.close_reason = reason
        self.flush_on_close = flush
        self.ws_code = ws_code
        if not flush:
            # Nothing will be delivered: let go of the queue now, not when the transport ends.
            self._outbox.clear()
            self._partial = b""
            self.flushed.set()
        self.closing.set()
        self.interrupt()
        self.scope.cancel()

    def interrupt(self) -> None:
        """Wake the transport waiting in `next_packets` (close, upgrade)."""
        if self._waiter is not None:
            self._waiter.cancel()

    def mark_probed(self) -> None:
        self.probed = True
        self.interrupt()

    def complete_upgrade(self) -> None:
        self.transport = "websocket"
        self.upgrading = self.probed = False
        self.interrupt()  # a non-conforming client may still hold a poll open

    async def _wait_outbox(self) -> None:
        """Wait until something is queued; returns early when the session closes or an
        upgrade is probed. Raises `Cancelled` before taking anything if cancelled."""
        if self.closed or self.probed:
            return
        if self._outbox or self._partial:
            await trio.lowlevel.checkpoint_if_cancelled()
            return
        with trio.CancelScope() as scope:
            self._waiter = scope
            wakeup = self._wakeup = trio.Event()
            try:
                await wakeup.wait()
            finally:
                # Only clear our own registration: the next consumer may have set its own.
                if self._waiter is scope:
                    self._waiter = None
                if self._wakeup is wakeup:
                    self._wakeup = None

    async def next_packets(self) -> list[str]:
        """Wait for outgoing packets, then return everything queued.

        Returns early (possibly empty) when the session closes or an upgrade is probed.
        """
        await self._wait_outbox()
        packets = [packet.text for packet in self._outbox]
        self._outbox.clear()
        return packets

    async def next_frames(self) -> bytes:
        """`next_packets` for a websocket writer that sends raw bytes: what is queued as
        websocket frames in one buffer (the rest of a partly written frame first), up to
        `FRAME_BATCH` bytes or one frame; the rest waits for the next call.

        Calling it again says the previous buffer has been written: until then, while a
        direct writer is attached, `send_nowait` queues instead of writing (order is kept).
        """
        self._in_flight = False
        await self._wait_outbox()
        parts = [self._partial] if self._partial else []
        size = len(self._partial)
        outbox = self._outbox
        while outbox and (not parts or size + len(outbox[0].frame) <= FRAME_BATCH):
            frame = outbox.popleft().frame
            parts.append(frame)
            size += len(frame)
        self._partial = b""
        # One part is written as it is: the frame a broadcast shares is not copied.
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self._in_flight = bool(data)
        return data

    def expect_pong(self) -> trio.Event:
        self._pong = trio.Event()
        return self._pong

    def pong_received(self) -> None:
        self._pong.set()

    async def deliver(self, message: str) -> None:
        """Hand an incoming message to the handler, in order.

        Waits while the handler is behind, but never longer than the message timeout: a
        handler stuck for that long closes the session rather than stalling its reader forever.
        """
        if self.closed:
            return
        try:
            self._in_send.send_nowait(message)
            return
        except trio.WouldBlock:
            pass
        except trio.BrokenResourceError:
            return  # the session task has finished
        with trio.move_on_after(self._message_timeout):
            with contextlib.suppress(trio.BrokenResourceError):
                await self._in_send.send(message)
            return
        self.close("handler backlog", ws_code=1008)

    async def receive_message(self) -> str:
        """The next incoming Engine.IO message (for the `SessionServer`)."""
        return await self._in_recv.receive()

    def stop_receiving(self) -> None:
        self._in_recv.close()


@final
class EngineServer:
    """The registry of Engine.IO sessions and the owner of their tasks."""

    def __init__(
        self,
        serve: SessionServer,
        *,
        ping_interval: float,
        ping_timeout: float,
        max_payload: int,
        outbox_size: int,
    ) -> None:
        self._serve = serve
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_payload = max_payload
        self.outbox_size = outbox_size
        self.sessions: dict[str, EngineSession] = {}
        #: Starts every new session id: where several workers serve, it names this one.
        self.sid_prefix = ""
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the session tasks until cancelled, then close every session."""
        if self._nursery is not None:
            raise RuntimeError("EngineServer.run is already running")
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None
                # Wakes the transports (pending polls answer `1`, websockets close); the
                # session tasks are cancelled with this nursery and run their shielded cleanup.
                for session in list(self.sessions.values()):
                    session.close("server shutting down", ws_code=1001)

    def open_session(self, transport: TransportName, headers: dict[str, str]) -> EngineSession:
        """Create a session with its handshake packet queued, and start its task."""
        if self._nursery is None:
            raise NotRunningError("the Socket.IO server is not running")
        sid = new_sid(self.sid_prefix)
        while sid in self.sessions:
            sid = new_sid(self.sid_prefix)
        session = EngineSession(
            sid,
            transport,
            headers,
            outbox_size=self.outbox_size,
            message_timeout=self.ping_timeout,
        )
        session.send_nowait(
            open_packet(
                sid,
                upgrades=["websocket"] if transport == "polling" else [],
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_timeout,
                max_payload=self.max_payload,
            )
        )
        self.sessions[sid] = session
        self._nursery.start_soon(self._session_task, session)
        return session

    async def receive_packet(self, session: EngineSession, packet: EnginePacket) -> None:
        """Apply one packet received from the client, whatever the transport."""
        if session.closed:
            return
        kind = packet.type
        if kind is EnginePacketType.MESSAGE:
            await session.deliver(packet.data)
        elif kind is EnginePacketType.PONG:
            session.pong_received()
        elif kind is EnginePacketType.CLOSE:
            session.close("client close", flush=False)
        elif kind is EnginePacketType.PING or kind is EnginePacketType.OPEN:
            # In v4 only the server pings (a client ping outside an upgrade probe is an error).
            session.close(f"invalid {kind.name} packet from client", ws_code=1002)
        # UPGRADE and NOOP outside a probe carry nothing: ignored, as engine.io does.

    async def _session_task(self, session: EngineSession) -> None:
        try:
            with session.scope:
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._heartbeat, session)
                        await self._serve(session)
                        session.close("server close")
                except* Exception:
                    # A bug in the layer above must not take the other sessions down with it.
                    logger.exception("Engine.IO session %s failed", session.sid)
                    session.close("server error", ws_code=1011)
            with trio.move_on_after(CLOSE_GRACE):
                await session.flushed.wait()
        finally:
            session.close("server shutting down")
            session.stop_receiving()
            del self.sessions[session.sid]

    async def _heartbeat(self, session: EngineSession) -> None:
        while True:
            await trio.sleep(self.ping_interval)
            pong = session.expect_pong()
            if not session.send_nowait(_PING):
                return
            with trio.move_on_after(self.ping_timeout):
                await pong.wait()
            if not pong.is_set():
                session.close("ping timeout", flush=False)
                return
