"""Against a real `hypercorn -k trio eliza.app:app`: 200 websocket clients join a channel
and stop reading while messages are broadcast to it. The server drops them (the send
timeout is 2 s here) with its RSS bounded, and a client that reads gets every broadcast.
Full-size figures: `python -m bench.bounded_memory`."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import socketio

from tests.polling import wait_until_sync
from tests.server_probe import PeakRss, open_fds, read_to_eof, rss_mb, slow_consumer, the_worker
from tests.socket_events import Events

MB = 1024 * 1024


def test_clients_that_stop_reading_are_dropped_and_readers_get_every_broadcast(
        live_server_factory: Any) -> None:
    # (the contract check, which buffers JSON answers, off: the server's memory is measured)
    server = live_server_factory(ELIZA_DEFAULT_AGENT="false", ELIZA_SEND_TIMEOUT="2",
                                 ELIZA_CONTRACT_CHECK="false")
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
        last = f"b{count - 1:03d}-"
        events.wait("messageBroadcast", lambda data: str(data["text"]).startswith(last))
        # Every broadcast, once each, in order.
        received = [d["text"][:5] for name, d in events.seen if name == "messageBroadcast"]
        assert received == [f"b{i:03d}-" for i in range(count)]
        total = 200 * count * size
        rise = (peak.peak - before) * MB
        assert rise < total / 4, f"RSS rose {rise / MB:.0f} MB; {total / MB:.0f} MB broadcast"
        assert reader.connected  # the reader was never dropped
    finally:
        reader.disconnect()
