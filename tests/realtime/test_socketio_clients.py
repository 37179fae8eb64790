"""The official python-socketio (sync) client against the live server.

Default transports (polling, then the upgrade), websocket only and polling only: connect
with auth, acks, a room broadcast that skips its sender, handler errors, a slow handler,
connect errors. Plain sync tests: python-socketio's client runs its own threads.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import socketio

from tests.polling import wait_until_sync

from .conftest import LiveServer

AUTH = {"token": "secret", "user": "py"}


@contextmanager
def connected(
    server: LiveServer, transports: list[str] | None, *, auth: dict[str, Any] | None = None
) -> Iterator[tuple[socketio.Client, queue.Queue[tuple[str, Any]]]]:
    """A connected client and the queue of events ("welcome", "broadcast") it received."""
    client = socketio.Client(reconnection=False)
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    for name in ("welcome", "broadcast"):
        client.on(name, lambda data, name=name: events.put((name, data)))
    client.connect(
        server.url,
        auth=auth or AUTH,
        transports=transports,
        headers={"X-Test": "handshake header"},
        wait_timeout=5,
    )
    try:
        yield client, events
    finally:
        client.disconnect()


def wait_disconnected(server: LiveServer, sid: str) -> None:
    # Reached at once on a quiet machine; the margin is for a loaded CI machine (5 s was
    # once too little there, on polling).
    wait_until_sync(lambda: sid in server.disconnects(), within=15,
                    message=f"{sid} to reach on_disconnect")


def expect_transport(client: socketio.Client, expected: str) -> None:
    # python-engineio upgrades synchronously inside connect(), so this holds at once.
    assert client.transport() == expected


@pytest.mark.parametrize(
    ("transports", "expected"),
    [(None, "websocket"), (["websocket"], "websocket"), (["polling"], "polling")],
    ids=["default", "websocket", "polling"],
)
def test_connect_ack_broadcast_disconnect(
    server: LiveServer, transports: list[str] | None, expected: str
) -> None:
    with (
        connected(server, transports, auth={**AUTH, "user": "alice"}) as (alice, alice_events),
        connected(server, transports) as (bob, bob_events),
    ):
        expect_transport(alice, expected)
        assert alice_events.get(timeout=5) == ("welcome", {"sid": alice.get_sid(), "user": "alice"})
        assert alice.get_sid() != alice.eio.sid  # Socket.IO sid distinct from Engine.IO sid
        assert alice.call("echo", ("x", {"y": [1, 2]}), timeout=5) == ("x", {"y": [1, 2]})
        assert alice.call("echo", "only", timeout=5) == "only"
        assert alice.call("echo", timeout=5) is None
        whoami = alice.call("whoami", timeout=5)
        assert whoami["transport"] == expected
        assert whoami["user"] == "alice"
        assert whoami["x_test"] == "handshake header"  # headers reached authenticate
        room = f"room-{expected}-{transports}"
        assert bob.call("join", room, timeout=5) == "joined"
        assert alice.call("join", room, timeout=5) == "joined"
        assert alice.call("broadcast", (room, {"hello": "world"}), timeout=5) == "sent"
        assert bob_events.get(timeout=5)[0] == "welcome"
        assert bob_events.get(timeout=5) == ("broadcast", {"hello": "world"})
        # skip_sid: the sender does not get its own broadcast. Events arrive in order, so
        # the next one alice gets, bob's broadcast, would come after her own.
        assert bob.call("broadcast", (room, {"from": "bob"}), timeout=5) == "sent"
        assert alice_events.get(timeout=5) == ("broadcast", {"from": "bob"})
        sids = (alice.get_sid(), bob.get_sid())
    for sid in sids:
        wait_disconnected(server, sid)


def test_handler_exception_is_logged_and_connection_survives(server: LiveServer) -> None:
    with connected(server, ["websocket"]) as (client, _):
        client.emit("boom")
        assert client.call("echo", "still here", timeout=5) == "still here"
    log = server.log()
    assert "Socket.IO handler for 'boom' failed" in log
    assert "RuntimeError: boom (expected by the tests)" in log
    assert "Traceback (most recent call last)" in log


def test_slow_handler_stalls_only_its_own_socket(server: LiveServer) -> None:
    with (
        connected(server, ["websocket"]) as (slow, _),
        connected(server, ["websocket"]) as (fast, _),
    ):
        started = time.monotonic()
        slow.emit("slow", 1.0)
        assert fast.call("echo", "quick", timeout=5) == "quick"
        assert time.monotonic() - started < 0.8  # other sockets are not stalled
        assert slow.call("echo", "after", timeout=5) == "after"
        assert time.monotonic() - started >= 1.0  # events of one socket run in order


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
def test_server_side_disconnect(server: LiveServer, transports: list[str]) -> None:
    reasons: queue.Queue[str] = queue.Queue()
    with connected(server, transports) as (kicker, _), connected(server, transports) as (victim, _):
        victim.on("disconnect", reasons.put)
        kicker.on("disconnect", reasons.put)
        victim_sid, kicker_sid = victim.get_sid(), kicker.get_sid()
        # From another socket's handler: returns once the victim has left the server.
        assert kicker.call("kick", victim_sid, timeout=5) is False
        assert reasons.get(timeout=5) == victim.reason.SERVER_DISCONNECT
        wait_disconnected(server, victim_sid)
        # From the socket's own handler: the handler is cancelled, the client told.
        kicker.emit("kick", kicker_sid)
        assert reasons.get(timeout=5) == kicker.reason.SERVER_DISCONNECT
        wait_disconnected(server, kicker_sid)


@pytest.mark.parametrize("transports", [None, ["websocket"]], ids=["default", "websocket"])
def test_connect_errors(server: LiveServer, transports: list[str] | None) -> None:
    errors: queue.Queue[Any] = queue.Queue()

    client = socketio.Client(reconnection=False)
    client.on("connect_error", errors.put, namespace="/nonexistent")
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, namespaces=["/nonexistent"], auth=AUTH, transports=transports)
    client.disconnect()
    assert errors.get(timeout=5) == {"message": "Invalid namespace"}

    client = socketio.Client(reconnection=False)
    client.on("connect_error", errors.put)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, auth={"token": "wrong"}, transports=transports)
    client.disconnect()
    assert errors.get(timeout=5) == {"message": "Valid token required"}
