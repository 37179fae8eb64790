"""Engine.IO sessions across the workers of a deployment: a session lives in the memory of
the worker that opened it, and a poll, a post or the websocket upgrade that a load balancer
sends to another worker is carried to it (the official web UI polls first, then upgrades).

Real processes on one PostgreSQL schema. Events of the shared bus are not used: whatever
comes back here comes from the worker holding the session.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import requests
import socketio
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    wrap_client_stream,
)

from tests.polling import wait_until, wait_until_sync
from tests.socket_events import Events

from .carrying import Worker, deployment

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]

UNKNOWN_SID = {"code": 1, "message": "Session ID unknown"}
SERVER_ID = "00000000-0000-0000-0000-000000000000"


def entity() -> dict[str, str]:
    """The handshake auth every Socket.IO client must send: its own entity id."""
    return {"entityId": str(uuid.uuid4())}


def connect_packet() -> str:
    """A Socket.IO CONNECT to "/" with a fresh entity id."""
    return "40" + json.dumps(entity())


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[Worker]]:
    with deployment(tmp_path, 2) as workers:
        yield workers


def message(kind: int, payload: dict[str, Any], ack: int | None = None) -> str:
    """A Socket.IO `message` event of the ElizaOS protocol (1 ROOM_JOINING, 2 SEND_MESSAGE)."""
    return f"42{'' if ack is None else ack}" + json.dumps(
        ["message", {"type": kind, "payload": payload}])


class Polling:
    """An Engine.IO polling session driven by hand; each request goes to the worker named."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.sid = ""
        self.seen: list[str] = []

    async def open(self, via: Worker) -> Polling:
        response = await self.client.get(via.eio_url("polling"))
        assert response.status_code == 200, response.text
        assert response.text.startswith("0"), response.text
        self.sid = json.loads(response.text[1:])["sid"]
        return self

    async def get(self, via: Worker) -> list[str]:
        response = await self.client.get(via.eio_url("polling", self.sid))
        assert response.status_code == 200, (via.url, response.status_code, response.text)
        return response.text.split("\x1e")

    async def post(self, via: Worker, *packets: str) -> None:
        response = await self.client.post(via.eio_url("polling", self.sid),
                                          content="\x1e".join(packets).encode())
        assert (response.status_code, response.text) == (200, "ok"), (via.url, response.text)

    async def until(self, vias: Iterator[Worker], found: Callable[[str], bool]) -> str:
        """Poll (through `vias` in turn) until a packet `found` accepts arrives; pings are
        answered on the way, through the next worker of `vias`."""
        with trio.fail_after(15):
            while True:
                for packet in self.seen:
                    if found(packet):
                        self.seen.remove(packet)
                        return packet
                for packet in await self.get(next(vias)):
                    if packet == "2":
                        await self.post(next(vias), "3")
                    else:
                        self.seen.append(packet)


@asynccontextmanager
async def engine_websocket(worker: Worker, sid: str) -> AsyncIterator[WebSocketConnection]:
    """A websocket to `worker` for session `sid`. Its socket is closed at the end whoever
    closed first (open_websocket_url leaves it open when the server closes first or
    refuses the handshake)."""
    url = urlsplit(worker.eio_url("websocket", sid))
    async with await trio.open_tcp_stream("127.0.0.1", worker.port) as stream, \
            trio.open_nursery() as nursery:
        ws = await wrap_client_stream(nursery, stream, url.netloc, f"{url.path}?{url.query}")
        try:
            yield ws
        finally:
            with trio.move_on_after(2):
                await ws.aclose()
            nursery.cancel_scope.cancel()


async def websocket_refusal(worker: Worker, sid: str) -> ConnectionRejected:
    """How `worker` refuses a websocket for session `sid`."""
    refusal: list[ConnectionRejected] = []
    try:
        async with engine_websocket(worker, sid):
            pass
    except* ConnectionRejected as group:
        refusal += [e for e in group.exceptions if isinstance(e, ConnectionRejected)]
    assert refusal, "the websocket was accepted"
    return refusal[0]


async def close_code(ws: WebSocketConnection) -> int:
    """Read until the server closes the websocket; its close code."""
    with trio.fail_after(10), contextlib.suppress(ConnectionClosed):
        while True:
            await ws.get_message()
    assert ws.closed is not None
    return ws.closed.code


def event(name: str) -> Callable[[str], bool]:
    return lambda packet: packet.startswith(f'42["{name}"')


def ack(packet_id: int) -> Callable[[str], bool]:
    return lambda packet: packet.startswith(f"43{packet_id}[")


def ack_data(packet: str, packet_id: int) -> Any:
    return json.loads(packet[len(f"43{packet_id}"):])[0]


async def test_a_polling_session_opened_on_one_worker_is_served_through_another(
        pair: list[Worker]) -> None:
    a, b = pair
    id_a, id_b = a.info()["id"], b.info()["id"]
    channel = str(uuid.uuid4())
    async with httpx.AsyncClient(timeout=30) as client:
        sender = await Polling(client).open(a)
        listener = await Polling(client).open(a)
        assert sender.sid.startswith(id_a + ".")
        assert listener.sid.startswith(id_a + ".")
        local = await Polling(client).open(b)
        assert local.sid.startswith(id_b + ".")  # each worker names its own sessions
        vias = itertools.cycle([b, a])

        for session in (sender, listener):
            await session.post(b, connect_packet())  # Socket.IO CONNECT, carried to A
            connected = await session.until(vias, lambda p: p.startswith("40{"))
            assert json.loads(connected[2:])["sid"]
            await session.until(vias, event("connection_established"))

        await sender.post(a, message(1, {"channelId": channel}, ack=1))
        joined = ack_data(await sender.until(vias, ack(1)), 1)
        assert joined["success"] is True
        assert joined["channelId"] == channel
        await listener.post(b, message(1, {"channelId": channel}, ack=1))
        assert ack_data(await listener.until(vias, ack(1)), 1)["success"] is True

        sent = {"channelId": channel, "senderId": str(uuid.uuid4()), "senderName": "Ada",
                "message": "hello across workers", "messageServerId": SERVER_ID,
                "messageId": "client-1"}
        await sender.post(b, message(2, sent, ack=2))
        stored = ack_data(await sender.until(vias, ack(2)), 2)
        assert stored["success"] is True
        assert stored["clientMessageId"] == "client-1"
        assert json.loads((await sender.until(vias, event("messageAck")))[2:])[1][
            "messageId"] == stored["messageId"]

        broadcast = json.loads((await listener.until(vias, event("messageBroadcast")))[2:])[1]
        assert broadcast["id"] == stored["messageId"]
        assert broadcast["text"] == "hello across workers"
        assert broadcast["channelId"] == channel

        # The session is A's alone: B holds no copy, and a close through B ends it on A.
        await sender.post(b, "1")

        async def ended() -> httpx.Response | None:
            response = await client.get(a.eio_url("polling", sender.sid))
            return response if response.status_code != 200 else None

        gone = await wait_until(ended, message="the session to end on A")
        assert (gone.status_code, gone.json()) == (400, UNKNOWN_SID)


async def test_the_websocket_upgrade_of_a_session_may_arrive_at_another_worker(
        pair: list[Worker]) -> None:
    a, b = pair
    channel = str(uuid.uuid4())
    async with httpx.AsyncClient(timeout=30) as client:
        session = await Polling(client).open(a)
        vias = itertools.cycle([a, b])
        await session.post(b, connect_packet())
        await session.until(vias, event("connection_established"))
        async with trio.open_nursery() as nursery:
            released: list[list[str]] = []

            async def pending_poll() -> None:
                released.append(await session.get(b))

            nursery.start_soon(pending_poll)
            async with engine_websocket(b, session.sid) as ws:
                await ws.send_message("2probe")
                assert await ws.get_message() == "3probe"
                # The probe releases the pending poll (carried through B) with a noop.
                await wait_until(lambda: released, within=5, message="the released poll")
                assert released == [["6"]]
                await ws.send_message("5")
                await ws.send_message(message(1, {"channelId": channel}, ack=7))
                with trio.fail_after(10):
                    while not (packet := str(await ws.get_message())).startswith("437["):
                        assert packet.startswith("42") or packet == "2", packet
                assert ack_data(packet, 7)["channelId"] == channel
                # The session is on the websocket now: polling for it is refused, on A too.
                stale = await client.get(a.eio_url("polling", session.sid))
                assert stale.status_code == 400
                assert stale.json()["code"] == 3
                # A's close code comes back through B: binary frames are refused with 1003.
                await ws.send_message(b"\x00binary")
                assert await close_code(ws) == 1003

        async def ended() -> bool:
            return (await client.get(a.eio_url("polling", session.sid))).status_code == 400

        await wait_until(ended, message="the session to end on A")


async def test_sessions_of_a_stopped_or_killed_worker_are_unknown_everywhere(
        tmp_path: Path) -> None:
    with deployment(tmp_path, 3) as (killed, survivor, stopped):
        async with httpx.AsyncClient(timeout=30) as client:
            lost = [(await Polling(client).open(worker)).sid for worker in (killed, stopped)]
            for sid in lost:  # carried while their workers run (a noop packet, answered "ok")
                assert (await client.post(survivor.eio_url("polling", sid), content=b"6")
                        ).text == "ok"
            os.kill(killed.serving_pid(), signal.SIGKILL)
            stopped.stop()
            await wait_until(lambda: killed.proc is not None and killed.proc.poll() is not None,
                             within=10, message="the killed worker's server to exit")
            for sid, whose in zip(lost, ("killed", "stopped"), strict=True):
                # Well before the gone worker's row is pruned (3 leases, 18 s): nobody waits
                # for a timeout (each answer within 15 s leaves room for a loaded CI machine).
                for method in ("GET", "POST"):
                    with _answered_soon(survivor, f"{method} for the {whose} worker's session"):
                        response = await client.request(
                            method, survivor.eio_url("polling", sid), content=b"6")
                    assert (response.status_code, response.json()) == (400, UNKNOWN_SID)
                with _answered_soon(survivor, f"websocket for the {whose} worker's session"):
                    rejected = await websocket_refusal(survivor, sid)
                assert rejected.status_code == 400
                assert json.loads(rejected.body or b"") == UNKNOWN_SID


@contextlib.contextmanager
def _answered_soon(worker: Worker, what: str) -> Iterator[None]:
    """Fails, with what `worker` logged, unless the block ends within 15 s."""
    started = time.monotonic()
    with trio.move_on_after(15) as scope:
        yield
    if scope.cancelled_caught:
        pytest.fail(f"{what}: no answer in {time.monotonic() - started:.1f} s; the worker "
                    f"asked logged:\n{worker.log()[-4000:]}")


async def test_a_carried_poll_is_never_carried_again(pair: list[Worker]) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=10) as client:
        session = await Polling(client).open(a)
        # Marked as carried already: B answers it itself, and it is not B's session.
        looped = await client.get(b.eio_url("polling", session.sid),
                                  headers={"X-Eliza-Carried-By": b.info()["id"]})
        assert (looped.status_code, looped.json()) == (400, UNKNOWN_SID)
        # The same request unmarked is carried (and the session is still there).
        await session.post(b, "6")


class RoundRobin(requests.Session):
    """A load balancer without stickiness in front of the workers, as the client sees it:
    each HTTP request goes to the next worker in turn (websockets go where the client's
    URL points)."""

    def __init__(self, workers: list[Worker]) -> None:
        super().__init__()
        self.next = itertools.cycle(workers)
        self.served: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
                ) -> requests.Response:
        parts = urlsplit(url.decode() if isinstance(url, bytes) else url)
        worker = next(self.next)
        self.served.append(worker.url)
        method = method.decode() if isinstance(method, bytes) else method
        return super().request(method, urlunsplit(parts._replace(netloc=worker.url[7:])),
                               *args, **kwargs)


def test_the_python_socketio_client_behind_a_balancer_without_stickiness(
        tmp_path: Path) -> None:
    # Short heartbeats: many polls and pongs of a session on A pass through B as well.
    with deployment(tmp_path, 2, ELIZA_SOCKET_PING_INTERVAL="0.5",
                    ELIZA_SOCKET_PING_TIMEOUT="2") as (a, b):
        id_a = a.info()["id"]
        channel = str(uuid.uuid4())
        polling = RoundRobin([a, b])
        upgrading = RoundRobin([a, b])
        clients = [socketio.Client(http_session=polling, reconnection=False),
                   socketio.Client(http_session=upgrading, reconnection=False)]
        listener, sender = (Events(client) for client in clients)
        try:
            clients[0].connect(b.url, transports=["polling"], auth=entity(), wait_timeout=10)
            # Opened on A (the balancer's first pick), then upgraded at B (the client's URL).
            clients[1].connect(b.url, transports=["polling", "websocket"], auth=entity(),
                               wait_timeout=10)
            assert all(client.eio.sid.startswith(id_a + ".") for client in clients)
            wait_until_sync(lambda: clients[1].transport() == "websocket", within=10,
                            message="the upgrade to websocket (at B, carried to A)")
            for client in clients:
                joined = client.call("message", {"type": 1, "payload": {"channelId": channel}},
                                     timeout=10)
                assert joined["success"] is True
            time.sleep(3)  # heartbeats: six rounds of pings and pongs
            assert all(client.connected for client in clients)
            assert clients[0].transport() == "polling"
            assert len(polling.served) > 12
            assert set(polling.served) == {a.url, b.url}
            sent = clients[1].call("message", {"type": 2, "payload": {
                "channelId": channel, "senderId": str(uuid.uuid4()), "message": "still here",
                "messageServerId": SERVER_ID}}, timeout=10)
            assert sent["success"] is True
            for events in (sender, listener):
                echoed = events.wait("messageBroadcast",
                                     lambda data: data["id"] == sent["messageId"])
                assert echoed["text"] == "still here"
        finally:
            for client in clients:
                client.disconnect()
