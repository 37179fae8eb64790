"""Engine.IO long-polling against the live server, driven by hand with httpx.

Covers the handshake, engine.io's error answers, batching, overlapping polls, CORS, the
payload limit, refused binary, the heartbeat, and a client vanishing mid-poll.
"""

from __future__ import annotations

import json

import httpx
import pytest
import trio

from .conftest import LiveServer
from .raw import (
    Polling,
    open_polling,
    wait_disconnected,
    wait_poll_waiting,
    wait_session_ended,
)


async def test_handshake(server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(server.eio_url("polling"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=UTF-8"
    assert response.text[0] == "0"
    handshake = json.loads(response.text[1:])
    assert set(handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert handshake["upgrades"] == ["websocket"]
    assert (handshake["pingInterval"], handshake["pingTimeout"]) == (25000, 20000)
    assert handshake["maxPayload"] == 1_000_000
    assert len(handshake["sid"]) == 20


@pytest.mark.parametrize(
    ("method", "query", "code", "message"),
    [
        ("GET", "EIO=4&transport=foo", 0, "Transport unknown"),
        ("GET", "EIO=4", 0, "Transport unknown"),
        ("GET", "EIO=4&transport=polling&sid=nope", 1, "Session ID unknown"),
        ("POST", "EIO=4&transport=polling&sid=nope", 1, "Session ID unknown"),
        ("POST", "EIO=4&transport=polling", 2, "Bad handshake method"),
        ("GET", "EIO=4&transport=websocket", 3, "Bad request"),
        ("GET", "EIO=3&transport=polling", 5, "Unsupported protocol version"),
        ("GET", "transport=polling", 5, "Unsupported protocol version"),
    ],
)
async def test_errors_answered_as_engine_io(
    server: LiveServer, method: str, query: str, code: int, message: str
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.request(method, f"{server.url}/socket.io/?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.text == json.dumps({"code": code, "message": message}, separators=(",", ":"))


async def _collect(polling: Polling, wanted: int) -> list[str]:
    packets: list[str] = []
    with trio.fail_after(5):
        while len(packets) < wanted:
            packets += await polling.get()
    return packets


async def test_connect_and_batched_packets(server: LiveServer) -> None:
    async with open_polling(server) as polling:
        sid = await polling.connect()
        assert sid != polling.sid  # the Socket.IO sid is not the Engine.IO one
        response = await polling.post(
            '421["echo","a"]', '422["echo","b",{"c":1}]', '42["join","r"]'
        )
        assert response.text == "ok"
        assert response.headers["content-type"] == "text/plain; charset=UTF-8"
        assert await _collect(polling, 2) == ['431["a"]', '432["b",{"c":1}]']


async def test_bad_auth_and_bad_namespace(server: LiveServer) -> None:
    async with open_polling(server) as polling:
        await polling.post('40/nonexistent,{"token":"secret"}')
        assert await polling.get() == ['44/nonexistent,{"message":"Invalid namespace"}']
        await polling.post('40{"token":"wrong"}')
        assert await polling.get() == ['44{"message":"Valid token required"}']
        # The Engine.IO session survives a refused CONNECT: the client may try again.
        assert (await polling.connect()) != ""


async def test_overlapping_poll_is_refused_and_closes_the_session(server: LiveServer) -> None:
    async with open_polling(server) as polling:
        first: list[httpx.Response] = []

        async def pending_get() -> None:
            first.append(await polling.client.get(polling.url))

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pending_get)
                await wait_poll_waiting(server, polling.sid)
                second = await polling.client.get(polling.url)
        assert second.status_code == 400
        assert first[0].text == "1"  # the pending poll is answered with a close packet
        # Delivered its close packet, the session is gone.
        response = await polling.client.get(polling.url)
        assert response.json() == {"code": 1, "message": "Session ID unknown"}


async def test_cors_headers(server: LiveServer) -> None:
    origin = "http://ui.example:3000"
    async with httpx.AsyncClient() as client:
        response = await client.get(server.eio_url("polling"), headers={"Origin": origin})
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-credentials"] == "true"
        preflight = await client.options(
            server.eio_url("polling"),
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert preflight.headers["access-control-allow-headers"] == "content-type"
        error = await client.get(f"{server.url}/socket.io/?EIO=4&transport=x")
        assert "access-control-allow-origin" not in error.headers  # no Origin, no CORS
        foreign = await client.get(server.eio_url("polling"),
                                   headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403
        assert foreign.json()["code"] == 4
        assert "access-control-allow-origin" not in foreign.headers


async def test_payload_over_max_payload_is_refused(fast_server: LiveServer) -> None:
    async with open_polling(fast_server) as polling:
        assert polling.handshake["maxPayload"] == 1000
        response = await polling.post('42["echo","' + "x" * 2000 + '"]')
        assert response.status_code == 413
        assert await polling.get() == ["1"]


async def test_binary_is_refused_with_a_clear_error(server: LiveServer) -> None:
    async with open_polling(server) as polling:
        await polling.connect()
        await polling.post('451-["upload",{"_placeholder":true,"num":0}]')
        packets = await _collect(polling, 2)
        assert packets == ['44{"message":"Binary packets are not supported"}', "1"]
    async with open_polling(server) as polling:
        response = await polling.client.post(
            polling.url, content=b"\x04\x01", headers={"Content-Type": "application/octet-stream"}
        )
        assert response.status_code == 400
        assert response.json() == {"code": 3, "message": "Bad request"}


async def test_heartbeat_drops_a_silent_client(fast_server: LiveServer) -> None:
    async with open_polling(fast_server) as polling:
        started = trio.current_time()
        with trio.fail_after(5):
            assert await polling.get() == ["2"]  # a long poll returns when a ping is due
            assert await polling.get() == ["1"]  # no pong: closed after interval + timeout
        assert 0.7 < trio.current_time() - started < 2.5


async def test_heartbeat_keeps_a_client_that_answers(fast_server: LiveServer) -> None:
    async with open_polling(fast_server) as polling:
        started = trio.current_time()
        with trio.fail_after(5):
            for _ in range(5):  # 5 ping cycles: about 2 s, well past interval + timeout
                assert await polling.get() == ["2"]
                assert (await polling.post("3")).text == "ok"
        assert trio.current_time() - started > 1.6


async def test_client_vanishing_mid_poll_is_cleaned_up(server: LiveServer) -> None:
    async with open_polling(server) as polling:
        sid = await polling.connect()
        with trio.move_on_after(0.3):
            await polling.get()  # cancelled: httpx drops the connection mid-poll
    await wait_disconnected(server, sid)
    await wait_session_ended(server, polling.sid)
    assert server.disconnects().count(sid) == 1
