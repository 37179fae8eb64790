"""A tiny QuartTrio app mounting `SocketIOServer`, served by hypercorn in the realtime tests.

Configured through env vars (`RT_PING_INTERVAL`, `RT_PING_TIMEOUT`, `RT_OUTBOX_SIZE`,
`RT_MAX_PAYLOAD`). Events: `echo` (acks its arguments), `join` (enters a room), `broadcast`
(to a room, except the sender), `slow` (sleeps, then acks), `boom` (raises). HTTP helpers
under `/test/` expose counters and emit floods without a client in the loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import trio
from quart import request
from quart_trio import QuartTrio

from eliza.realtime.socketio import AuthError, Socket, SocketIOServer


async def authenticate(auth: dict[str, Any] | None, headers: Mapping[str, str]) -> dict[str, Any]:
    if not auth or auth.get("token") != "secret":
        raise AuthError("Valid token required")
    return {"user": auth.get("user"), "x_test": headers.get("x-test")}


# Handler tracebacks land in the server log, which the tests inspect.
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

app = QuartTrio(__name__)
sio = SocketIOServer(
    authenticate=authenticate,
    ping_interval=float(os.environ.get("RT_PING_INTERVAL", "25")),
    ping_timeout=float(os.environ.get("RT_PING_TIMEOUT", "20")),
    outbox_size=int(os.environ.get("RT_OUTBOX_SIZE", "256")),
    max_payload=int(os.environ.get("RT_MAX_PAYLOAD", "1000000")),
    cors_origin="http://ui.example:3000",  # the one foreign origin test_cors_headers allows
)
sio.register(app)

connects: list[str] = []
disconnects: list[str] = []
sockets: dict[str, Socket] = {}


@sio.on_connect
async def on_connect(sock: Socket) -> None:
    connects.append(sock.sid)
    sockets[sock.sid] = sock
    sock.emit("welcome", {"sid": sock.sid, "user": sock.data["user"]})


@sio.on_disconnect
async def on_disconnect(sock: Socket) -> None:
    disconnects.append(sock.sid)
    del sockets[sock.sid]
    logging.getLogger("app_for_tests").info("on_disconnect %s", sock.sid)


@sio.on("echo")
async def echo(sock: Socket, *args: Any) -> tuple[Any, ...]:
    return args


@sio.on("join")
async def join(sock: Socket, room: str) -> str:
    sio.enter_room(sock.sid, room)
    return "joined"


@sio.on("broadcast")
async def broadcast(sock: Socket, room: str, payload: Any) -> str:
    sio.emit("broadcast", payload, room=room, skip_sid=sock.sid)
    return "sent"


@sio.on("slow")
async def slow(sock: Socket, seconds: float) -> str:
    await trio.sleep(seconds)
    return "slept"


@sio.on("boom")
async def boom(sock: Socket) -> None:
    raise RuntimeError("boom (expected by the tests)")


@sio.on("kick")
async def kick(sock: Socket, sid: str) -> bool:
    """Disconnect a socket from the server side; acks whether it is still connected."""
    target = sockets[sid]
    await target.disconnect()
    return target.connected


@sio.on("whoami")
async def whoami(sock: Socket) -> dict[str, Any]:
    return {
        "sid": sock.sid,
        "eio_sid": sock.eio_sid,
        "transport": sock.transport,
        # Whether its frames take the websocket fast path (written directly, see transports).
        "direct": sio._engine.sessions[sock.eio_sid].direct,
        "rooms": sorted(sio.rooms(sock.sid)),
        "connected": sock.connected,
        **sock.data,
    }


@app.get("/test/stats")
async def stats() -> dict[str, Any]:
    s = sio.statistics()
    engine = sio._engine.sessions
    return {
        "sockets": s.sockets,
        "rooms": s.rooms,
        "sessions": s.sessions,
        "polling": s.polling,
        "websocket": s.websocket,
        "direct": s.direct,
        "connects": len(connects),
        "disconnects": disconnects,
        # Engine.IO sids the engine still holds (dropped once a session has fully ended),
        # and those with a long poll waiting.
        "engine_sessions": sorted(engine),
        "polls_waiting": sorted(sid for sid, session in engine.items() if session.poll_busy),
    }


@app.post("/test/flood")
async def flood() -> dict[str, Any]:
    """Emit `n` events of `size` characters to `room`, in bursts of `burst` with a short pause
    between bursts (a burst larger than the outbox would overflow every client)."""
    room = request.args["room"]
    count = int(request.args.get("n", "100"))
    burst = int(request.args.get("burst", "16"))
    pause = float(request.args.get("pause", "0.005"))
    payload = "x" * int(request.args.get("size", "10"))
    started = trio.current_time()
    for i in range(count):
        sio.emit("flood", i, payload, room=room)
        if i % burst == burst - 1:
            await trio.sleep(pause)
    return {"sent": count, "seconds": trio.current_time() - started}


@app.before_serving
async def start_realtime() -> None:
    await app.nursery.start(sio.run)
