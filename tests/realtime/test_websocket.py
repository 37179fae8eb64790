"""Engine.IO websocket transport and the polling -> websocket upgrade, with raw clients.

Covers the handshake, the upgrade (`2probe`/`3probe`, the pending poll answered `6`, `5`),
heartbeats, refused binary and oversized frames, vanishing clients, and a client that stops
reading while broadcasts flow to a normal client.
"""

from __future__ import annotations

import json

import httpx
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from .conftest import LiveServer
from .raw import (
    open_polling,
    open_raw_websocket,
    parse_open,
    wait_disconnected,
    wait_poll_waiting,
    wait_session_ended,
    websocket_rejection,
    ws_connect_socketio,
)


async def _wait_closed(ws: WebSocketConnection) -> int | None:
    """Read until the server closes; return the close code."""
    try:
        while True:
            await ws.get_message()
    except ConnectionClosed as closed:
        return None if closed.reason is None else closed.reason.code


async def test_websocket_handshake_and_echo(server: LiveServer) -> None:
    with trio.fail_after(10):
        async with open_raw_websocket(server) as ws:
            handshake = parse_open(str(await ws.get_message()))
            assert handshake["upgrades"] == []
            assert handshake["pingInterval"] == 25000
            sid = await ws_connect_socketio(ws)
            assert str(await ws.get_message()).startswith('42["welcome"')
            await ws.send_message('427["echo","hi",{"n":1}]')
            assert await ws.get_message() == '437["hi",{"n":1}]'
            rooms_before = server.stats()["rooms"]
            await ws.send_message('42["join","ws-room"]')
            await ws.send_message('428["whoami"]')
            reply = json.loads(str(await ws.get_message())[3:])[0]
            assert reply["sid"] == sid
            assert reply["transport"] == "websocket"
            assert reply["eio_sid"] == handshake["sid"]
            assert reply["rooms"] == ["ws-room"]
            assert server.stats()["rooms"] == rooms_before + 1
            await ws.send_message("41")  # Socket.IO DISCONNECT
            await wait_disconnected(server, sid)
            assert server.stats()["rooms"] == rooms_before


async def test_upgrade_from_polling(server: LiveServer) -> None:
    async with open_polling(server) as polling:
        sid = await polling.connect()
        pending: list[list[str]] = []
        released = trio.Event()

        async def long_poll() -> None:
            pending.append(await polling.get())
            released.set()

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(long_poll)
                await wait_poll_waiting(server, polling.sid)
                async with open_raw_websocket(server, sid=polling.sid) as ws:
                    await ws.send_message("2probe")
                    assert await ws.get_message() == "3probe"
                    await released.wait()  # the pending poll is released: the client can pause
                    assert pending == [["6"]]
                    await ws.send_message("5")
                    await ws.send_message('421["echo","over ws"]')
                    assert await ws.get_message() == '431["over ws"]'
                    # Polling is over for this session.
                    response = await polling.client.get(polling.url)
                    assert response.json() == {"code": 3, "message": "Bad request"}
                    # Only one upgrade per session.
                    rejected = await websocket_rejection(server, polling.sid)
                    assert rejected.status_code == 400
                    assert rejected.json() == {"code": 3, "message": "Bad request"}
                    await ws.send_message('422["whoami"]')
                    whoami = json.loads(str(await ws.get_message())[3:])[0]
                    assert (whoami["sid"], whoami["transport"]) == (sid, "websocket")
        await wait_disconnected(server, sid)


async def test_failed_upgrade_keeps_polling(server: LiveServer) -> None:
    with trio.fail_after(10):
        async with open_polling(server) as polling:
            await polling.connect()
            async with open_raw_websocket(server, sid=polling.sid) as ws:
                await ws.send_message("not a probe")
                await _wait_closed(ws)
            await polling.post('421["echo","still polling"]')
            assert await polling.get() == ['431["still polling"]']


async def test_websocket_rejections(server: LiveServer) -> None:
    with trio.fail_after(10):
        rejected = await websocket_rejection(server, "nope")
        assert rejected.status_code == 400
        assert rejected.json() == {"code": 1, "message": "Session ID unknown"}
        async with open_raw_websocket(server) as ws:
            eio_sid = parse_open(str(await ws.get_message()))["sid"]
            async with httpx.AsyncClient() as client:
                response = await client.get(server.eio_url("polling", eio_sid))
            assert response.status_code == 400
            assert response.json() == {"code": 3, "message": "Bad request"}


async def test_heartbeat_drops_a_silent_websocket(fast_server: LiveServer) -> None:
    async with open_raw_websocket(fast_server) as ws:
        started = trio.current_time()
        await ws.get_message()  # open
        with trio.fail_after(5):
            assert await ws.get_message() == "2"
            await _wait_closed(ws)
        assert 0.7 < trio.current_time() - started < 2.5


async def test_heartbeat_keeps_a_websocket_that_answers(fast_server: LiveServer) -> None:
    async with open_raw_websocket(fast_server) as ws:
        await ws.get_message()  # open
        await ws_connect_socketio(ws)
        assert str(await ws.get_message()).startswith('42["welcome"')
        with trio.fail_after(5):
            for _ in range(5):  # 5 ping cycles: about 2 s, well past interval + timeout
                assert await ws.get_message() == "2"
                await ws.send_message("3")
            await ws.send_message('421["echo","alive"]')
            while (message := await ws.get_message()) == "2":
                await ws.send_message("3")
            assert message == '431["alive"]'


async def test_binary_frame_is_refused(server: LiveServer) -> None:
    with trio.fail_after(10):
        async with open_raw_websocket(server) as ws:
            await ws.get_message()
            await ws.send_message(b"\x04\x01\x02")
            assert await _wait_closed(ws) == 1003


async def test_binary_socketio_packet_is_refused(server: LiveServer) -> None:
    with trio.fail_after(10):
        async with open_raw_websocket(server) as ws:
            await ws.get_message()
            await ws_connect_socketio(ws)
            await ws.get_message()  # welcome
            await ws.send_message('451-["upload",{"_placeholder":true,"num":0}]')
            assert await ws.get_message() == '44{"message":"Binary packets are not supported"}'
            assert await _wait_closed(ws) == 1002


async def test_message_over_max_payload_closes(fast_server: LiveServer) -> None:
    with trio.fail_after(10):
        async with open_raw_websocket(fast_server) as ws:
            await ws.get_message()
            await ws.send_message('42["echo","' + "é" * 600 + '"]')  # 1,200+ bytes in UTF-8
            assert await _wait_closed(ws) == 1009


async def test_client_vanishing_mid_websocket_is_cleaned_up(server: LiveServer) -> None:
    with trio.fail_after(10):
        async with open_raw_websocket(server) as ws:
            eio_sid = parse_open(str(await ws.get_message()))["sid"]
            sid = await ws_connect_socketio(ws)
            await ws.get_message()  # welcome
            rooms_before = server.stats()["rooms"]
            await ws.send_message('421["join","vanish"]')
            assert await ws.get_message() == '431["joined"]'
            assert server.stats()["rooms"] == rooms_before + 1
            # Drop the TCP connection without a close handshake.
            await ws._stream.aclose()
        await wait_disconnected(server, sid)
        await wait_session_ended(server, eio_sid)
        assert server.disconnects().count(sid) == 1
        assert server.stats()["rooms"] == rooms_before


async def test_client_that_stops_reading_is_dropped_without_delaying_others(
    server: LiveServer,
) -> None:
    # ~20 MB at ~25 MB/s: enough to fill the stalled client's TCP buffers and its outbox,
    # at a pace a normal Python client keeps up with.
    count, size = 300, 65536
    received: list[int] = []
    with trio.fail_after(30):
        async with (
            open_raw_websocket(server) as normal,
            # Its reader stops at one queued message; closing cannot complete: do not wait.
            open_raw_websocket(server, message_queue_size=1, disconnect_timeout=0.2) as stalled,
            httpx.AsyncClient(timeout=30) as http,
        ):
            sids = []
            for ws in (normal, stalled):
                await ws.get_message()
                sids.append(await ws_connect_socketio(ws))
                await ws.get_message()  # welcome
                await ws.send_message('421["join","flood"]')
                assert await ws.get_message() == '431["joined"]'

            async def read_normal() -> None:
                while len(received) < count:
                    message = str(await normal.get_message())
                    if message.startswith('42["flood"'):
                        received.append(json.loads(message[2:])[1])

            started = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_normal)
                params: dict[str, str | int | float] = {
                    "room": "flood",
                    "n": count,
                    "size": size,
                    "burst": 4,
                    "pause": 0.01,
                }
                response = await http.post(f"{server.url}/test/flood", params=params)
                assert response.json()["sent"] == count
            elapsed = trio.current_time() - started
            assert received == list(range(count))  # every broadcast, in order
            assert elapsed < 10
            await wait_disconnected(server, sids[1])  # the stalled client was dropped
            # The normal client is still connected and served.
            await normal.send_message('429["echo","after"]')
            while (message := await normal.get_message()) != '439["after"]':
                assert not str(message).startswith("4")
            assert sids[0] not in server.disconnects()
