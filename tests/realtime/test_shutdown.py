"""Stopping the server (SIGTERM to hypercorn) with clients connected on both transports.

hypercorn drops open connections after its graceful timeout and only then cancels the app's
lifespan nursery (and `SocketIOServer.run`), so what is checked is the server side: every
connected socket gets `on_disconnect` exactly once, nothing crashes, and the exit is clean.
"""

from __future__ import annotations

import re
from pathlib import Path

import trio

from .conftest import run_server
from .raw import open_polling, open_raw_websocket, ws_connect_socketio


async def test_shutdown_disconnects_every_socket(tmp_path: Path) -> None:
    with run_server(tmp_path, "shutdown", {}) as server, trio.fail_after(20):
        async with open_raw_websocket(server) as ws, open_polling(server) as polling:
            await ws.get_message()
            sids = {await ws_connect_socketio(ws), await polling.connect()}
            # An idle polling session (no pending GET): only the run() cancellation ends it.
            exit_code = await trio.to_thread.run_sync(server.stop)
        log = server.log()
    assert exit_code == 0, log
    assert set(re.findall(r"on_disconnect (\S+)", log)) == sids, log
    assert len(re.findall(r"on_disconnect ", log)) == 2, log
    assert "Traceback" not in log, log
