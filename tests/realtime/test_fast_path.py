"""The websocket fast path: frames encoded once per broadcast and written straight to
hypercorn's connection (`_hypercorn_direct`, `EngineSession.send_nowait`).

Unit tests drive an `EngineSession` with a fake direct writer (order, partial writes, the
outbox cut-off); live tests check that a plain websocket takes the fast path, that a client
offering permessage-deflate keeps the regular path, and that both get the same broadcasts,
whatever their size.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from eliza.realtime.codec import OutPacket, websocket_text_frame
from eliza.realtime.engineio import EngineSession

from .conftest import LiveServer
from .raw import AUTH, open_polling, open_raw_websocket, parse_open, ws_connect_socketio

# -- EngineSession with a fake direct writer -------------------------------------------------


class FakeWriter:
    """Accepts at most `room` bytes per call (None: everything); records what it got."""

    def __init__(self) -> None:
        self.room: int | None = None
        self.written = bytearray()
        self.calls = 0

    def write_nowait(self, data: bytes) -> int:
        self.calls += 1
        size = len(data) if self.room is None else min(self.room, len(data))
        self.written += data[:size]
        return size


def _session(outbox_size: int = 8) -> EngineSession:
    return EngineSession("sid", "websocket", {}, outbox_size=outbox_size, message_timeout=1.0)


def _frames(*texts: str) -> bytes:
    return b"".join(websocket_text_frame(text) for text in texts)


async def test_idle_session_writes_at_once() -> None:
    session, writer = _session(), FakeWriter()
    session.attach_direct(writer)
    assert session.direct
    packet = OutPacket('42["a",1]')
    assert session.send_nowait(packet)
    assert session.send_nowait("3")
    assert bytes(writer.written) == _frames('42["a",1]', "3")
    # Nothing was queued: the writer task would still be waiting.
    with trio.move_on_after(0.01) as scope:
        await session.next_frames()
    assert scope.cancelled_caught


async def test_partial_write_keeps_order() -> None:
    session, writer = _session(), FakeWriter()
    session.attach_direct(writer)
    writer.room = 3  # the socket buffer takes 3 bytes, then nothing
    assert session.send_nowait("4first")
    writer.room = 0
    assert session.send_nowait("4second")
    writer.room = None  # room again, but the rest of "first" must go first, via the writer
    assert session.send_nowait("4third")
    assert writer.calls == 1  # no direct attempt while a remainder is pending
    data = await session.next_frames()
    assert bytes(writer.written) + data == _frames("4first", "4second", "4third")
    # The writer task holds that buffer: still no direct write until it asks for more.
    assert session.send_nowait("4fourth")
    assert writer.calls == 1
    assert await session.next_frames() == _frames("4fourth")
    writer.written.clear()
    with trio.move_on_after(0.01):
        await session.next_frames()  # back for more: the previous buffer was written
    assert session.send_nowait("4fifth")
    assert bytes(writer.written) == _frames("4fifth")


async def test_full_outbox_closes_session_with_direct_writer() -> None:
    session, writer = _session(outbox_size=4), FakeWriter()
    session.attach_direct(writer)
    writer.room = 0  # a client that stopped reading
    for i in range(4):
        assert session.send_nowait(f"4m{i}")
    before = session.close_reason
    assert not session.send_nowait("4overflow")
    assert (before, session.close_reason) == (None, "outbox full")
    assert not session.send_nowait("4after")


async def test_detached_session_queues_and_polling_gets_text() -> None:
    session, writer = _session(), FakeWriter()
    session.attach_direct(writer)
    session.detach_direct()
    assert not session.direct
    shared = OutPacket('42["x"]')
    assert session.send_nowait(shared)
    assert writer.calls == 0
    assert await session.next_packets() == ['42["x"]']


# -- live server ---------------------------------------------------------------------------------


@asynccontextmanager
async def deflate_websocket(server: LiveServer) -> AsyncIterator[DeflateClient]:
    """A websocket client offering (and getting) permessage-deflate, on wsproto."""
    parts = urlsplit(server.url)
    assert parts.hostname is not None
    assert parts.port is not None
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    async with stream:
        client = DeflateClient(stream)
        await client.open(f"{parts.hostname}:{parts.port}")
        yield client


class DeflateClient:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.extensions: list[Any] = []
        self._pending: list[Any] = []

    async def _event(self) -> Any:
        while not self._pending:
            self._pending.extend(self.ws.events())
            if not self._pending:
                data = await self.stream.receive_some(65536)
                self.ws.receive_data(data or None)
        return self._pending.pop(0)

    async def open(self, host: str) -> None:
        await self.stream.send_all(self.ws.send(Request(
            host=host, target="/socket.io/?EIO=4&transport=websocket",
            extensions=[PerMessageDeflate()])))
        event = await self._event()
        assert isinstance(event, AcceptConnection)
        self.extensions = list(event.extensions)

    async def send(self, text: str) -> None:
        await self.stream.send_all(self.ws.send(TextMessage(data=text)))

    async def receive(self) -> str:
        parts: list[str] = []
        while True:
            event = await self._event()
            if isinstance(event, Ping):
                await self.stream.send_all(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                raise AssertionError(f"closed by the server: {event.code}")
            elif isinstance(event, TextMessage):
                parts.append(event.data)
                if event.message_finished:
                    text = "".join(parts)
                    if text == "2":  # Engine.IO ping
                        await self.send("3")
                        parts = []
                        continue
                    return text


async def _whoami(send: Any, receive: Any, ack_id: int) -> dict[str, Any]:
    await send(f'42{ack_id}["whoami"]')
    while True:
        text = str(await receive())
        if text.startswith(f"43{ack_id}"):
            reply: dict[str, Any] = json.loads(text[2 + len(str(ack_id)):])[0]
            return reply


async def test_plain_and_deflate_clients_get_the_same_broadcasts(server: LiveServer) -> None:
    room = "fast-path-room"
    sizes = [10, 200, 70_000]  # 7-bit, 16-bit and 64-bit websocket payload lengths
    with trio.fail_after(20):
        async with open_raw_websocket(server) as plain, deflate_websocket(server) as deflated:
            assert any(isinstance(ext, PerMessageDeflate) for ext in deflated.extensions)
            parse_open(str(await plain.get_message()))
            await ws_connect_socketio(plain)
            assert str(await plain.get_message()).startswith('42["welcome"')
            parse_open(await deflated.receive())
            await deflated.send("40" + json.dumps(AUTH))
            assert (await deflated.receive()).startswith("40{")
            assert (await deflated.receive()).startswith('42["welcome"')

            plain_me = await _whoami(plain.send_message, plain.get_message, 1)
            deflated_me = await _whoami(deflated.send, deflated.receive, 1)
            assert plain_me["transport"] == deflated_me["transport"] == "websocket"
            assert plain_me["direct"] is True  # hypercorn, no extension: the fast path
            assert deflated_me["direct"] is False  # permessage-deflate: the regular path

            for send, receive in ((plain.send_message, plain.get_message),
                                  (deflated.send, deflated.receive)):
                await send(f'422["join","{room}"]')
                assert str(await receive()) == '432["joined"]'
            # One emit, both clients: the frame is shared, the deflate one compressed.
            async with httpx.AsyncClient(timeout=10) as http:
                for size in sizes:
                    response = await http.post(
                        f"{server.url}/test/flood",
                        params={"room": room, "n": 3, "size": size, "burst": 3},
                    )
                    response.raise_for_status()
            expected = [f'42["flood",{i},"{"x" * size}"]' for size in sizes for i in range(3)]
            assert [str(await plain.get_message()) for _ in expected] == expected
            assert [await deflated.receive() for _ in expected] == expected
            # And socket-to-socket broadcasts both ways.
            await plain.send_message(f'423["broadcast","{room}",{{"from":"plain"}}]')
            assert await plain.get_message() == '433["sent"]'
            assert await deflated.receive() == '42["broadcast",{"from":"plain"}]'
            await deflated.send(f'423["broadcast","{room}","é✓ from deflate"]')
            assert await deflated.receive() == '433["sent"]'
            assert await plain.get_message() == '42["broadcast","é✓ from deflate"]'


async def test_upgraded_session_takes_the_fast_path(server: LiveServer) -> None:
    """polling -> websocket upgrade: packets queued during the upgrade come first, in order,
    and the upgraded websocket then writes directly."""
    with trio.fail_after(15):
        async with open_polling(server) as polling:
            await polling.connect()
            async with open_raw_websocket(server, sid=polling.sid) as ws:
                await ws.send_message("2probe")
                assert await ws.get_message() == "3probe"
                # Queued while the upgrade is under way (the poll is released with a noop).
                await polling.post('421["echo","during"]')
                await ws.send_message("5")
                assert await ws.get_message() == '431["during"]'
                me = await _whoami(ws.send_message, ws.get_message, 7)
                assert me["transport"] == "websocket"
                assert me["direct"] is True
