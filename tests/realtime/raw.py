"""Raw Engine.IO / Socket.IO clients (httpx polling, trio-websocket) for protocol-level tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from trio_websocket import WebSocketConnection, open_websocket_url

from .conftest import LiveServer

AUTH = {"token": "secret", "user": "raw"}


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
    async with httpx.AsyncClient(timeout=10) as client:
        yield await Polling(client, server).open()


@asynccontextmanager
async def open_raw_websocket(
    server: LiveServer, *, sid: str | None = None, message_queue_size: int = 64
) -> AsyncIterator[WebSocketConnection]:
    async with open_websocket_url(
        server.eio_url("websocket", sid, ws=True),
        connect_timeout=5,
        disconnect_timeout=2,
        message_queue_size=message_queue_size,
    ) as ws:
        yield ws


async def ws_connect_socketio(ws: WebSocketConnection, auth: dict[str, Any] | None = None) -> str:
    """After the open packet: CONNECT to "/" and return the Socket.IO sid."""
    await ws.send_message("40" + json.dumps(auth or AUTH))
    while True:
        message = await ws.get_message()
        if isinstance(message, str) and message.startswith("40{"):
            sid: str = json.loads(message[2:])["sid"]
            return sid
