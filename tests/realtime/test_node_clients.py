"""The published socket.io-client 4.8 (node, tests/node) against the live server.

Default transports (polling first, then the upgrade, as the web UI connects) and websocket
only: connect with auth, acks, a room broadcast, the upgrade, connect errors.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO_ROOT, LiveServer

NODE_DIR = REPO_ROOT / "tests" / "node"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (NODE_DIR / "node_modules" / "socket.io-client").is_dir(),
    reason="node and tests/node/node_modules/socket.io-client are needed",
)


def run_node(script: str, *args: str) -> dict[str, Any]:
    assert NODE is not None
    completed = subprocess.run(
        [NODE, str(Path(NODE_DIR, script)), *args],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, (completed.stdout, completed.stderr)
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("mode", ["default", "websocket"])
def test_socket_io_client(server: LiveServer, mode: str) -> None:
    result = run_node("realtime_client.mjs", server.url, mode)
    # Default transports start on polling and really upgrade.
    assert result["initialTransport"] == ("polling" if mode == "default" else "websocket")
    assert result["transport"] == "websocket"
    assert result["whoami"]["transport"] == "websocket"
    assert result["welcome"] == {"sid": result["sid"], "user": "node"}
    assert result["sid"] != result["eioSid"]
    assert result["whoami"]["eio_sid"] == result["eioSid"]
    assert result["ack"] == ["hi", {"n": 1}]
    assert result["ackWithAck"] == "single"
    assert result["joined"] == ["joined", "joined"]
    assert result["sent"] == "sent"
    assert result["broadcast"] == {"hello": "node"}
    assert result["selfBroadcasts"] == 0


@pytest.mark.parametrize("mode", ["default", "websocket"])
def test_socket_io_client_connect_errors(server: LiveServer, mode: str) -> None:
    result = run_node("realtime_errors.mjs", server.url, mode)
    assert result == {
        "namespace": {"message": "Invalid namespace"},
        "auth": {"message": "Valid token required"},
        "noAuth": {"message": "Valid token required"},
    }
