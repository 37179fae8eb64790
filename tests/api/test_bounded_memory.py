"""Against a real `hypercorn -k trio` process: large listings are streamed (the worker's RSS
rises by a fraction of what it sends), clients that never read are dropped after the send
timeout, and clients that stall mid-body after the body timeout. Full-size figures:
`python -m bench.bounded_memory`."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.media.helpers import CONTENT_TYPE, SAMPLES, file_body
from tests.polling import wait_until_sync
from tests.server_probe import (
    PeakRss,
    fetch_listing,
    open_fds,
    post_messages,
    read_to_eof,
    rss_mb,
    stalled_socket,
    the_worker,
)

MB = 1024 * 1024
# Messages of 1 MB and more are the point here: above the default message size limit.
# The contract check is off: it buffers JSON answers, and the server's own memory is measured.
LIMITS = {"ELIZA_DEFAULT_AGENT": "false", "ELIZA_SEND_TIMEOUT": "2", "ELIZA_BODY_TIMEOUT": "2",
          "ELIZA_MAX_MESSAGE_CHARS": "4000000", "ELIZA_CONTRACT_CHECK": "false"}


def test_large_listings_stream_with_a_fraction_of_their_size_in_memory(
        live_server_factory: Any) -> None:
    server = live_server_factory(**LIMITS)
    channel = str(uuid.uuid4())
    prefixes = post_messages(server.url, channel, 40, MB)
    pid = the_worker(server)
    before = rss_mb(pid)
    results: list[tuple[int, dict[str, Any]]] = []

    def listing() -> None:
        results.append(fetch_listing(server.url, channel, 100))

    with PeakRss(pid) as peak:
        threads = [threading.Thread(target=listing) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(results) == 4
    total = sum(size for size, _ in results)
    for _, answer in results:
        assert answer["success"] is True
        messages = answer["data"]["messages"]
        # Every message, newest first, each whole (in `content` and in `rawMessage`).
        assert [m["content"] for m in messages] == [p + "x" for p in reversed(prefixes)]
        assert [m["rawMessage"]["text"] for m in messages] == [m["content"] for m in messages]
    assert total > 4 * 80 * MB / 1.1
    rise = (peak.peak - before) * MB
    assert rise < total / 3, f"RSS rose {rise / MB:.0f} MB for {total / MB:.0f} MB sent"


def test_a_streamed_listing_is_the_json_a_whole_answer_would_be(
        live_server_factory: Any) -> None:
    server = live_server_factory(**LIMITS)
    channel = str(uuid.uuid4())
    post_messages(server.url, channel, 6, 200 * 1024)  # a page holds ~1 of them
    for query in ({"limit": 5}, {"limit": 1000}, {"limit": 4, "after": 0}):
        streamed = httpx.get(f"{server.url}/api/messaging/channels/{channel}/messages",
                             params=query, timeout=30)
        assert streamed.headers.get("transfer-encoding") == "chunked"
        whole = json.loads(streamed.content)
        # Exactly what Quart's JSON provider would have written for the same data.
        assert streamed.content == (json.dumps(whole, separators=(",", ":")) + "\n").encode()
        assert len(whole["data"]["messages"]) == min(query["limit"], 6)
    forward = httpx.get(f"{server.url}/api/messaging/channels/{channel}/messages",
                        params={"limit": 4, "after": 0}, timeout=30).json()["data"]["messages"]
    assert [m["content"][:6] for m in forward] == ["m0003-", "m0002-", "m0001-", "m0000-"]


def open_sockets(pid: int) -> int:
    """How many sockets the process holds (its other descriptors left out)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fd_dir.iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except FileNotFoundError:  # closed while we looked
            continue
    return count


def stable(count: Callable[[], int], settle: float = 1.0) -> tuple[int] | None:
    """`(n,)` when `count()` gives the same n twice, `settle` seconds apart; else None."""
    first = count()
    time.sleep(settle)
    return (first,) if count() == first else None


def test_clients_that_never_read_are_dropped_and_memory_stays_bounded(
        live_server_factory: Any) -> None:
    server = live_server_factory(**LIMITS)
    channel = str(uuid.uuid4())
    post_messages(server.url, channel, 100, 100 * 1024)
    answer, _ = fetch_listing(server.url, channel, 100)
    pid = the_worker(server)
    # The baseline once the listing's own connection is gone: the worker's sockets only (its
    # database and log files open and close on their own schedule).
    sockets = wait_until_sync(lambda: stable(lambda: open_sockets(pid)), within=10,
                              interval=0.2, message="a stable count of the worker's sockets")
    before = rss_mb(pid)
    request = (f"GET /api/messaging/channels/{channel}/messages?limit=100 HTTP/1.1\r\n"
               "Host: 127.0.0.1\r\n\r\n").encode()
    with PeakRss(pid) as peak:
        clients = [stalled_socket(server.port, request) for _ in range(50)]
        try:
            wait_until_sync(lambda: open_sockets(pid) > sockets[0], within=10, interval=0.1,
                            message="the server to accept the stalled clients")
            # The server closes every one of them (the send timeout is 2 s).
            wait_until_sync(lambda: open_sockets(pid) <= sockets[0], within=60, interval=0.2,
                            message=lambda: f"the worker's sockets back to {sockets[0]}, "
                                            f"now {open_sockets(pid)}")
        finally:
            for client in clients:
                client.close()
    rise = (peak.peak - before) * MB
    assert rise < 50 * answer / 5, f"RSS rose {rise / MB:.0f} MB for 50 x {answer / MB:.0f} MB"
    assert httpx.get(f"{server.url}/api/server/ping", timeout=10).status_code == 200


def test_clients_that_stall_mid_body_are_dropped_and_slow_uploads_go_through(
        live_server_factory: Any) -> None:
    server = live_server_factory(**LIMITS)
    pid = the_worker(server)
    fds = open_fds(pid)
    head = (f"POST /api/messaging/channels/{uuid.uuid4()}/messages HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    clients = [stalled_socket(server.port, head.encode() + b'{"content":') for _ in range(20)]
    try:
        for client in clients:
            read_to_eof(client, within=15)  # closed by the server (possibly after a 408)
    finally:
        for client in clients:
            client.close()
    wait_until_sync(lambda: open_fds(pid) <= fds, within=10,
                    message=lambda: f"the worker's descriptors back to {fds}")

    # An upload slower than the body timeout in all, but never silent that long, succeeds.
    body = file_body(SAMPLES["image/png"][0], "image/png", "slow.png")
    pieces = [body[i:i + len(body) // 8 + 1] for i in range(0, len(body), len(body) // 8 + 1)]

    def trickle() -> Any:
        for piece in pieces:
            yield piece
            time.sleep(0.5)  # pacing the sender: 4 s in all, 0.5 s between pieces

    response = httpx.post(
        f"{server.url}/api/messaging/central-channels/{uuid.uuid4()}/upload-media",
        content=trickle(), headers={"Content-Type": CONTENT_TYPE}, timeout=30)
    assert response.status_code == 200, response.text
