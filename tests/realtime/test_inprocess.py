"""In-process checks through Quart's test client: what needs `run` itself in the test."""

from __future__ import annotations

import json

import trio
from quart_trio import QuartTrio

from eliza.realtime.socketio import Socket, SocketIOServer

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


def make_app() -> tuple[QuartTrio, SocketIOServer, list[str]]:
    app = QuartTrio(__name__)
    sio = SocketIOServer()
    sio.register(app)
    gone: list[str] = []

    @sio.on_disconnect
    async def on_disconnect(sock: Socket) -> None:
        await trio.sleep(0.01)  # a hook may await: it runs shielded during shutdown
        gone.append(sock.sid)

    return app, sio, gone


async def test_not_running_answers_503() -> None:
    app, _, _ = make_app()
    response = await app.test_client().get(HANDSHAKE)
    assert response.status_code == 503
    assert await response.get_json() == {"message": "Socket.IO server is not running"}


async def test_cancelling_run_disconnects_every_socket() -> None:
    app, sio, gone = make_app()
    client = app.test_client()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(sio.run)
            response = await client.get(HANDSHAKE)
            sid = json.loads((await response.get_data(as_text=True))[1:])["sid"]
            url = f"{HANDSHAKE}&sid={sid}"
            assert await (await client.post(url, data="40")).get_data(as_text=True) == "ok"
            connect = await (await client.get(url)).get_data(as_text=True)
            socket_sid = json.loads(connect[2:])["sid"]
            # HEAD (which Quart adds to GET routes) is refused without harming the session.
            assert (await client.head(url)).status_code == 400
            assert sio.statistics().sockets == 1
            nursery.cancel_scope.cancel()
    assert gone == [socket_sid]
    assert sio.statistics().sessions == 0
    assert sio.statistics().sockets == 0
