"""The guard around hypercorn's private objects (`eliza.realtime._hypercorn_direct`).

A real hypercorn server runs in the test's own trio run, so that the shape check's
expectations can be altered to simulate a hypercorn or wsproto release whose objects differ.
A spy between the server's ASGI `send` and Quart records what goes through the public path
(`websocket.send`); the fast path bypasses it.
"""

from __future__ import annotations

import enum
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio
from trio_websocket import WebSocketConnection, open_websocket_url

from eliza.realtime import _hypercorn_direct
from eliza.realtime._hypercorn_direct import STREAM_SHAPE, TCP_SHAPE, Shape, StartupCheck
from eliza.realtime.socketio import Socket, SocketIOServer

ROOM = "news-room"
BROADCASTS = [f'42["news",{i},"{"x" * size}"]' for i, size in enumerate((5, 300, 70_000))]


class Server:
    """A SocketIOServer on hypercorn, with the texts its public websocket path sent."""

    def __init__(self) -> None:
        self.app = QuartTrio(__name__)
        self.public_texts: list[str] = []
        # Installed before `register`, so inside its wrapper: between hypercorn and Quart.
        self.app.asgi_app = self._spy(self.app.asgi_app)  # type: ignore[method-assign]
        self.sio = SocketIOServer()
        self.sio.register(self.app)
        self.url = ""

        @self.app.before_serving
        async def start() -> None:
            await self.app.nursery.start(self.sio.run)

        @self.sio.on("join")
        async def join(sock: Socket, room: str) -> str:
            self.sio.enter_room(sock.sid, room)
            return "joined"

    def _spy(self, app: Callable[..., Any]) -> Callable[..., Any]:
        async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
            async def spying_send(message: dict[str, Any]) -> None:
                if message["type"] == "websocket.send" and message.get("text"):
                    self.public_texts.append(message["text"])
                await send(message)

            await app(scope, receive, spying_send if scope["type"] == "websocket" else send)

        return asgi_app


@asynccontextmanager
async def serving() -> AsyncIterator[Server]:
    server = Server()
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 1
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, server.app, config, shutdown_trigger=stop.wait))
        server.url = binds[0].replace("http://", "ws://")
        try:
            yield server
        finally:
            stop.set()


async def join_room(server: Server, ws: WebSocketConnection) -> None:
    assert str(await ws.get_message()).startswith("0{")
    await ws.send_message("40")
    assert str(await ws.get_message()).startswith("40{")
    await ws.send_message(f'420["join","{ROOM}"]')
    assert await ws.get_message() == '430["joined"]'


async def broadcast_to_two_sockets(server: Server) -> int:
    """Two websockets join a room; every broadcast reaches both, in order. Returns how many
    of them wrote directly to their socket."""
    url = f"{server.url}/socket.io/?EIO=4&transport=websocket"
    async with open_websocket_url(url) as first, open_websocket_url(url) as second:
        await join_room(server, first)
        await join_room(server, second)
        for text in BROADCASTS:
            event, index, payload = json.loads(text[2:])
            server.sio.emit(event, index, payload, room=ROOM)
        for ws in (first, second):
            assert [await ws.get_message() for _ in BROADCASTS] == BROADCASTS
        return server.sio.statistics().direct


@pytest.fixture(autouse=True)
def fresh_startup_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a fresh process for the check: no verdict yet."""
    monkeypatch.setattr(_hypercorn_direct, "STARTUP", StartupCheck())


def fast_path_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == _hypercorn_direct.__name__ and record.levelno >= logging.WARNING
    ]


async def test_matching_hypercorn_takes_the_fast_path(caplog: pytest.LogCaptureFixture) -> None:
    with trio.fail_after(20):
        async with serving() as server:
            assert await broadcast_to_two_sockets(server) == 2
    assert fast_path_warnings(caplog) == []
    assert not set(BROADCASTS) & set(server.public_texts)  # none went through websocket.send


def _renamed_stream_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    renamed = tuple(
        ("stream_ident" if name == "stream_id" else name, kind)
        for name, kind in STREAM_SHAPE.attributes
    )
    monkeypatch.setattr(_hypercorn_direct, "STREAM_SHAPE", Shape(STREAM_SHAPE.owner, renamed))


def _state_enum_without_open(monkeypatch: pytest.MonkeyPatch) -> None:
    ConnectionState = enum.Enum("ConnectionState", ["CONNECTING", "REMOTE_CLOSING", "CLOSED"])
    monkeypatch.setattr(_hypercorn_direct, "_WSState", ConnectionState)


def _send_lock_of_another_type(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = tuple(
        (name, trio.Semaphore if name == "send_lock" else kind)
        for name, kind in TCP_SHAPE.attributes
    )
    monkeypatch.setattr(_hypercorn_direct, "TCP_SHAPE", Shape(TCP_SHAPE.owner, changed))


@pytest.mark.parametrize(
    ("simulate", "reason"),
    [
        (_renamed_stream_attribute, "hypercorn's WSStream has no attribute 'stream_ident'"),
        (_state_enum_without_open, "wsproto's ConnectionState has no OPEN member"),
        (_send_lock_of_another_type, "hypercorn's TCPServer.send_lock is a Lock, not a Semaphore"),
    ],
)
async def test_mismatched_hypercorn_warns_once_and_uses_the_public_path(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    simulate: Callable[[pytest.MonkeyPatch], None],
    reason: str,
) -> None:
    simulate(monkeypatch)
    with trio.fail_after(20):
        async with serving() as server:
            assert await broadcast_to_two_sockets(server) == 0
            assert await broadcast_to_two_sockets(server) == 0  # more sockets: one warning
    [warning] = fast_path_warnings(caplog)
    assert warning.startswith(f"websocket fast path off ({reason}; hypercorn ")
    # Every broadcast went through websocket.send, once per socket (four sockets in all).
    sent = Counter(text for text in server.public_texts if text in BROADCASTS)
    assert sent == dict.fromkeys(BROADCASTS, 4)
