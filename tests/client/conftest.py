"""Helpers for the SDK tests: all of them run against a real `hypercorn -k trio` server."""

from __future__ import annotations

from typing import Any

USER_ID = "1f0e5c36-5b0a-4a4e-9f1e-6c2b8d7a9e01"
DEFAULT_SERVER = "00000000-0000-0000-0000-000000000000"


def restart_on_same_port(server: Any) -> None:
    """Stop the live server and start it again on the SAME port (a client that reconnects
    keeps its URL; the fixture's own restart() picks a new port)."""
    port = server.port
    server.stop()
    server.start(port=port)
    assert server.port == port
