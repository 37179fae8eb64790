"""The published socket.io-client 4.8 (node, tests/node) against the live server.

Default transports (polling first, then the upgrade, as the web UI connects) and websocket
only: connect with auth, acks, a room broadcast, the upgrade, connect errors.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import run_node as run_node_script

from .conftest import LiveServer

pytestmark = pytest.mark.node  # the published client, run by node


def run_node(script: str, *args: str) -> dict[str, Any]:
    """Run a tests/node script (the root helper installs the pinned clients first)."""
    result: dict[str, Any] = run_node_script(script, *args, timeout=30)
    return result


@pytest.mark.parametrize("mode", ["default", "websocket"])
def test_socket_io_client(server: LiveServer, mode: str) -> None:
    result = run_node("realtime_client.mjs", server.url, mode)
    # Default transports start on polling and really upgrade.
    if mode == "default":
        assert result["initialTransport"] == "polling"
        assert result["upgradedTo"] == "websocket"
    else:
        assert result["initialTransport"] == "websocket"
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
