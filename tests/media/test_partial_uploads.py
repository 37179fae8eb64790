"""Partial uploads never outlive their request, nor a killed server: a client that stalls
mid-body and then hangs up leaves no `.part` file, and the `.part` files of a server killed
mid-upload are removed (and reported in the log) when the server starts again (on
PostgreSQL, whose workers share the directory, once they are too old to be in progress)."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from eliza.media.uploads import PARTIAL_UPLOAD_MAX_AGE
from tests import backends
from tests.polling import wait_until_sync

from .helpers import CONTENT_TYPE, SAMPLES, new_id
from .test_live import big_png_body, worker_pid

PNG = SAMPLES["image/png"][0]
CHUNK = next(big_png_body(0)) + PNG + bytes(64 * 1024)


def partial_files(server: Any) -> list[Path]:
    root = server.data_dir / "data" / "uploads"
    return list(root.rglob("*.part")) if root.exists() else []


def is_dead(pid: int) -> bool:
    try:  # a zombie (state Z) is dead too: whoever reaps orphans here may be slow to
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def begin_upload(port: int, chunks: int) -> socket.socket:
    """A chunked upload whose body is never finished: `chunks` of 64 KB each, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall((f"POST /api/media/channels/{new_id()}/upload-media HTTP/1.1\r\n"
                  f"Host: 127.0.0.1\r\nContent-Type: {CONTENT_TYPE}\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n").encode())
    for _ in range(chunks):
        sock.sendall(f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n")
    return sock


def test_a_stalled_client_that_hangs_up_leaves_no_partial_file(live_server: Any) -> None:
    with begin_upload(live_server.port, 20):
        found = wait_until_sync(lambda: partial_files(live_server), within=10,
                                message="the upload to start writing")
        time.sleep(1.0)  # the client stalls mid-body before it hangs up
        assert all(p.exists() for p in found), "the upload ended before the client hung up"
    wait_until_sync(lambda: not partial_files(live_server), within=10,
                    message=lambda: f"the partial file removed: {partial_files(live_server)}")


def test_partial_uploads_of_a_killed_server_are_removed_at_start(live_server: Any) -> None:
    master = live_server.proc.pid
    worker = worker_pid(master)
    sockets = [begin_upload(live_server.port, 30) for _ in range(2)]
    try:
        wait_until_sync(lambda: len(partial_files(live_server)) == 2, within=10,
                        message=lambda: f"both uploads writing: {partial_files(live_server)}")
        # The master first, so it cannot start a new worker, then the worker mid-upload.
        os.kill(master, signal.SIGKILL)
        live_server.proc.wait(10)
        if worker != master:
            os.kill(worker, signal.SIGKILL)
            wait_until_sync(lambda: is_dead(worker), within=10,
                            message="the worker to die")
    finally:
        for sock in sockets:
            sock.close()
    left = partial_files(live_server)
    assert len(left) == 2, "a killed server leaves its partial uploads"
    size = sum(p.stat().st_size for p in left)
    assert size > 0
    if backends.current.name == "postgres":
        # Workers on PostgreSQL share their uploads directory: a partial upload is only
        # known to be left over once it is too old to be another worker's in progress.
        live_server.start()
        assert sorted(partial_files(live_server)) == sorted(left)
        live_server.stop()
        long_ago = time.time() - PARTIAL_UPLOAD_MAX_AGE - 60
        for path in left:
            os.utime(path, (long_ago, long_ago))

    live_server.start()
    assert partial_files(live_server) == []
    assert f"removed 2 partial upload(s) ({size} bytes)" in live_server.log()
