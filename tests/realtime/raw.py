"""Raw Engine.IO / Socket.IO clients (httpx polling, trio-websocket) for protocol-level tests."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from trio_websocket import WebSocketConnection, open_websocket_url

from tests.polling import wait_until

from .conftest import LiveServer

AUTH = {"token": "secret", "user": "raw"}


async def wait_disconnected(server: LiveServer, sid: str) -> None:
    """Until the server's on_disconnect hook has seen this Socket.IO sid (another process:
    there is no event to wait on)."""
    await wait_until(lambda: sid in server.disconnects(), within=5, interval=0.05,
                     message=f"{sid} to reach on_disconnect")


async def wait_session_ended(server: LiveServer, eio_sid: str) -> None:
    """Until the server has let go of this Engine.IO session: after that nothing of it is
    left to run (a second on_disconnect included)."""
    await wait_until(lambda: eio_sid not in server.engine_sessions(), within=5, interval=0.05,
                     message=f"Engine.IO session {eio_sid} to end")


async def wait_poll_waiting(server: LiveServer, eio_sid: str) -> None:
    """Until the server holds a long poll open for this Engine.IO session."""
    await wait_until(lambda: eio_sid in server.polls_waiting(), within=5, interval=0.02,
                     message=f"a long poll of {eio_sid} to be waiting")


def parse_open(text: str) -> dict[str, Any]:
    assert text.startswith("0"), text
    data: dict[str, Any] = json.loads(text[1:])
    return data


class Polling:
    """An Engine.IO polling session driven by hand."""

    def __init__(self, client: httpx.AsyncClient, server: LiveServer) -> None:
        self.client = client
        self.server = server
        self.sid = ""
        self.handshake: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return self.server.eio_url("polling", self.sid)

    async def open(self) -> Polling:
        response = await self.client.get(self.server.eio_url("polling"))
        assert response.status_code == 200, response.text
        self.handshake = parse_open(response.text)
        self.sid = self.handshake["sid"]
        return self

    async def get(self) -> list[str]:
        response = await self.client.get(self.url)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.text.split("\x1e")

    async def post(self, *packets: str) -> httpx.Response:
        return await self.client.post(self.url, content="\x1e".join(packets).encode())

    async def connect(self, auth: dict[str, Any] | None = None) -> str:
        """CONNECT to "/" and return the Socket.IO sid, once the welcome event has arrived."""
        response = await self.post("40" + json.dumps(auth or AUTH))
        assert response.text == "ok"
        packets = await self.get()
        assert packets[0].startswith("40{"), packets
        while not any(p.startswith('42["welcome"') for p in packets):
            packets += await self.get()
        sid: str = json.loads(packets[0][2:])["sid"]
        return sid


@asynccontextmanager
async def open_polling(server: LiveServer) -> AsyncIterator[Polling]:
    """A polling session, closed at the end (a close packet) unless the server closed it."""
    async with httpx.AsyncClient(timeout=10) as client:
        polling = await Polling(client, server).open()
        try:
            yield polling
        finally:
            # The server may be gone already (shutdown test): then there is nothing to close.
            with contextlib.suppress(httpx.TransportError):
                await client.post(polling.url, content=b"1")


@asynccontextmanager
async def open_raw_websocket(
    server: LiveServer,
    *,
    sid: str | None = None,
    message_queue_size: int = 64,
    disconnect_timeout: float = 2,
) -> AsyncIterator[WebSocketConnection]:
    connection: WebSocketConnection | None = None
    try:
        async with open_websocket_url(
            server.eio_url("websocket", sid, ws=True),
            connect_timeout=5,
            disconnect_timeout=disconnect_timeout,
            message_queue_size=message_queue_size,
        ) as connection:
            yield connection
    finally:
        if connection is not None:
            # trio-websocket 0.12 never closes its socket when the server closed first
            # (ResourceWarning); closing a trio stream twice is harmless.
            await connection._stream.aclose()


async def websocket_rejection(server: LiveServer, sid: str) -> httpx.Response:
    """A websocket upgrade request sent with httpx, to read the server's refusal.

    (trio-websocket 0.12 leaks its socket when an upgrade is rejected.)
    """
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(server.eio_url("websocket", sid), headers=headers)


async def ws_connect_socketio(ws: WebSocketConnection, auth: dict[str, Any] | None = None) -> str:
    """After the open packet: CONNECT to "/" and return the Socket.IO sid."""
    await ws.send_message("40" + json.dumps(auth or AUTH))
    while True:
        message = await ws.get_message()
        if isinstance(message, str) and message.startswith("40{"):
            sid: str = json.loads(message[2:])["sid"]
            return sid
