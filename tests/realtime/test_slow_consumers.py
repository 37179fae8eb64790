"""Against a real `hypercorn -k trio eliza.app:app`: 200 websocket clients join a channel
and stop reading while messages are broadcast to it. The server drops them (the send
timeout is 2 s here) with its RSS bounded, and a client that reads gets every broadcast.
Full-size figures: `python -m bench.bounded_memory`."""

from __future__ import annotations

import json
import socket
import struct
import uuid
from typing import Any

import httpx
import socketio

from tests.polling import wait_until_sync
from tests.server_probe import PeakRss, open_fds, read_to_eof, rss_mb, stalled_socket, the_worker
from tests.socket_events import Events

MB = 1024 * 1024
UPGRADE = ("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def text_frame(text: str) -> bytes:
    """A client's websocket text frame (masked, with a zero mask: the payload is as is)."""
    payload = text.encode()
    size = len(payload)
    length = bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack(
        "!H", size)
    return b"\x81" + length + b"\0\0\0\0" + payload


def slow_consumer(port: int, channel: str) -> socket.socket:
    """Connects to "/", joins `channel`, reads until the join is confirmed, then never
    reads again."""
    join = {"type": 1, "payload": {"channelId": channel, "entityId": str(uuid.uuid4())}}
    sock = stalled_socket(port, UPGRADE.encode())
    sock.settimeout(10)
    seen = b""
    for sent, expected in ((b"", b"\r\n\r\n"), (text_frame("40") + text_frame(
            "42" + json.dumps(["message", join])), b"channel_joined")):
        sock.sendall(sent)
        while expected not in seen:
            chunk = sock.recv(4096)
            assert chunk, "closed before joining"
            seen = seen[-64:] + chunk
    return sock


def test_clients_that_stop_reading_are_dropped_and_readers_get_every_broadcast(
        live_server_factory: Any) -> None:
    server = live_server_factory(ELIZA_DEFAULT_AGENT="false", ELIZA_SEND_TIMEOUT="2")
    channel, user = str(uuid.uuid4()), str(uuid.uuid4())
    reader = socketio.Client(reconnection=False)
    events = Events(reader)
    reader.connect(server.url, auth={"entityId": user}, transports=["websocket"],
                   wait_timeout=10)
    try:
        assert reader.call("message", {"type": 1, "payload": {"channelId": channel,
                                                              "entityId": user}},
                           timeout=10)["success"] is True
        pid = the_worker(server)
        before, fds = rss_mb(pid), open_fds(pid)
        count, size = 100, 16 * 1024
        with PeakRss(pid) as peak:
            slow = [slow_consumer(server.port, channel) for _ in range(200)]
            try:
                with httpx.Client(base_url=server.url, timeout=30) as http:
                    for i in range(count):
                        http.post(f"/api/messaging/channels/{channel}/messages", json={
                            "author_id": user, "content": f"b{i:03d}-" + "y" * size,
                        }).raise_for_status()
                wait_until_sync(lambda: open_fds(pid) <= fds, within=30, interval=0.2,
                                message=lambda: f"the worker's descriptors back to {fds}")
                for sock in slow:
                    read_to_eof(sock, within=10)  # the server closed it
            finally:
                for sock in slow:
                    sock.close()
        received = [events.wait("messageBroadcast", lambda d, i=i: d["text"].startswith(
            f"b{i:03d}-"))["text"] for i in range(count)]
        assert [t[:5] for t in received] == [f"b{i:03d}-" for i in range(count)]
        broadcast = [d for name, d in events.seen if name == "messageBroadcast"]
        assert len(broadcast) == count  # each once
        total = 200 * count * size
        rise = (peak.peak - before) * MB
        assert rise < total / 4, f"RSS rose {rise / MB:.0f} MB; {total / MB:.0f} MB broadcast"
        assert reader.connected  # the reader was never dropped
    finally:
        reader.disconnect()
