"""Against a real `hypercorn -k trio` process: a 60 MB chunked upload is cut off with 413
while the worker's memory stays flat and no partial file is left, a 60 MB upload with a
Content-Length is refused before its body is read, and raw traversal attempts never reach
outside the media directories."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.polling import wait_until_sync

from .helpers import BOUNDARY, CONTENT_TYPE, SAMPLES, file_body, new_id

MB = 1024 * 1024
PNG = SAMPLES["image/png"][0]


def worker_pid(master: int) -> int:
    """hypercorn's worker is a child of the process we started (the master itself if none)."""
    for task in Path(f"/proc/{master}/task").iterdir():
        for pid in (task / "children").read_text().split():
            # The multiprocessing resource tracker is a child too; the worker is spawned.
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return int(pid)
    return master


def memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def big_png_body(total: int) -> Iterator[bytes]:
    yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
           f"filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n").encode()
    yield PNG
    chunk = bytes(64 * 1024)
    for _ in range(total // len(chunk)):
        yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def uploads(server: Any) -> list[Path]:
    root = server.data_dir / "data" / "uploads"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def raw_request(port: int, head: str, body_size: int = 0) -> tuple[int, bytes, int]:
    """Send a request line + headers verbatim (no client-side path normalisation), then up to
    `body_size` bytes of body while watching for an early answer; return the status, the raw
    response and how many body bytes went out before the answer came."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1"))
        sent, chunk = 0, bytes(64 * 1024)
        sock.setblocking(False)
        while sent < body_size:
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break  # the server answered early
            except BlockingIOError:
                pass
            try:
                sent += sock.send(chunk[: body_size - sent])
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                break
        sock.settimeout(10)
        data = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in data or len(data) < _response_size(data):
                piece = sock.recv(65536)
                if not piece:
                    break
                data += piece
    return int(data.split(b" ", 2)[1]), data, sent


def _response_size(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(data) + 1  # no length: read until the server closes


def test_upload_and_serve_back_over_http(live_server: Any) -> None:
    channel = new_id()
    response = httpx.post(
        f"{live_server.url}/api/messaging/central-channels/{channel}/upload-media",
        content=file_body(PNG, "image/png", "cat.png"), headers={"Content-Type": CONTENT_TYPE})
    assert response.status_code == 200, response.text
    url = response.json()["data"]["url"]
    assert url.startswith(f"/media/uploads/channels/{channel}/")
    served = httpx.get(live_server.url + url)
    assert served.status_code == 200
    assert served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"


def test_60mb_chunked_upload_is_cut_off_with_flat_memory(live_server: Any) -> None:
    pid = worker_pid(live_server.proc.pid)
    route = f"{live_server.url}/api/media/agents/{new_id()}/upload-media"
    warm = httpx.post(route, content=file_body(PNG, "image/png"),
                      headers={"Content-Type": CONTENT_TYPE})
    assert warm.status_code == 200
    before = memory_kb(pid)
    started = time.monotonic()
    with httpx.Client(timeout=60) as client:
        response = client.post(route, content=big_png_body(60 * MB),
                               headers={"Content-Type": CONTENT_TYPE})
    elapsed = time.monotonic() - started
    after = memory_kb(pid)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "FILE_TOO_LARGE"
    growth_mb = (after["VmRSS"] - before["VmRSS"]) / 1024
    print(f"worker {pid}: VmRSS {before['VmRSS'] / 1024:.1f} -> {after['VmRSS'] / 1024:.1f} MB"
          f" (growth {growth_mb:.1f} MB), VmHWM {before['VmHWM'] / 1024:.1f} -> "
          f"{after['VmHWM'] / 1024:.1f} MB, {elapsed:.2f} s")
    assert growth_mb < 40
    assert len(uploads(live_server)) == 1  # the warm-up file only: no partial left behind
    assert not [p for p in uploads(live_server) if p.name.endswith(".part")]
    # The server is still fine afterwards.
    assert httpx.post(route, content=file_body(PNG, "image/png"),
                      headers={"Content-Type": CONTENT_TYPE}).status_code == 200


def test_60mb_upload_with_content_length_is_refused_before_reading(live_server: Any) -> None:
    size = 60 * MB
    head = (f"POST /api/media/agents/{new_id()}/upload-media HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nContent-Type: {CONTENT_TYPE}\r\n"
            f"Content-Length: {size}\r\n\r\n")
    started = time.monotonic()
    status, data, sent = raw_request(live_server.port, head, size)
    elapsed = time.monotonic() - started
    print(f"early 413 after {sent / MB:.1f} MB of 60 MB sent, {elapsed * 1000:.0f} ms")
    assert status == 413
    assert b"FILE_TOO_LARGE" in data
    assert sent < 30 * MB
    assert elapsed < 5
    assert not uploads(live_server)


def test_raw_traversal_attempts(live_server: Any) -> None:
    agent = new_id()
    secret = live_server.data_dir / "data" / "uploads" / "secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("top secret")
    (live_server.data_dir / "data" / "uploads" / "agents" / agent).mkdir(parents=True)
    paths = [
        f"/media/uploads/agents/{agent}/../../secret.txt",
        f"/media/uploads/agents/{agent}/%2e%2e%2f%2e%2e%2fsecret.txt",
        f"/media/uploads/agents/{agent}/%2e%2e",
        f"/media/uploads/agents/{agent}/..%5c..%5csecret.txt",
        f"/media/uploads/agents/{agent}/secret.txt%00.png",
        "/media/uploads/agents/..%2f..%2f/secret.txt",
        "/media/uploads/agents/%2e%2e/secret.txt",
        "/media/uploads/channels/..%5c..%5cagents/secret.txt",
        "/media/generated/%2e%2e/secret.txt",
    ]
    for path in paths:
        status, data, _ = raw_request(
            live_server.port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\n\r\n")
        assert status in (400, 403, 404), (path, status)
        assert b"top secret" not in data, path
    # Uploads to ids that try to escape are refused too, and write nothing.
    for bad in ["..%2f..%2fx", "%2e%2e", "..%5cx", "x%00"]:
        response = httpx.post(f"{live_server.url}/api/media/agents/{bad}/upload-media",
                              content=file_body(PNG, "image/png"),
                              headers={"Content-Type": CONTENT_TYPE})
        assert response.status_code in (400, 404), bad
    assert not [p for p in uploads(live_server) if p.suffix == ".png"]


def test_client_abort_mid_upload_leaves_no_partial_file(live_server: Any) -> None:
    head = (f"POST /api/media/agents/{new_id()}/upload-media HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nContent-Type: {CONTENT_TYPE}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")
    first = next(big_png_body(0)) + PNG + bytes(64 * 1024)
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        for _ in range(80):  # ~5 MB, then hang up without finishing the body
            sock.sendall(f"{len(first):x}\r\n".encode() + first + b"\r\n")
        wait_until_sync(lambda: [p for p in uploads(live_server) if p.name.endswith(".part")],
                        within=5, interval=0.02, message="the upload to start writing")
    wait_until_sync(lambda: not uploads(live_server), within=10,
                    message=lambda: f"the partial file removed: {uploads(live_server)}")
