"""A streaming multipart receiver with a hard size cap.

Quart does not enforce MAX_CONTENT_LENGTH on chunked bodies and python-multipart's `max_size`
truncates silently, so this counts every byte itself: a declared Content-Length over the cap
is refused before the body is read, and a chunked body is cut off as soon as it passes the
cap. The one `file` part is written with trio's async file I/O into a hidden temporary file in
the target directory and renamed to `<ms>-<random><ext>` once complete and checked; any error
or cancellation (a client that hangs up, however long it stalled first) removes the partial
file, and `sweep_partial_uploads` removes those a killed server left behind. A disk that is
full or read-only answers 507 `InsufficientStorage`, never a 500.
"""

from __future__ import annotations

import errno
import logging
import secrets
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MAX_BOUNDARY_LENGTH, parse_options_header
from werkzeug.exceptions import RequestEntityTooLarge

from ..errors import (
    BadRequest,
    InsufficientStorage,
    InvalidId,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from ..ids import validate_uuid
from .types import EXTENSIONS, ContentCheck

log = logging.getLogger(__name__)

FIELD = "file"
# What a file being received is called until it is complete (`_Receiver.temp`).
PART_GLOB = ".upload-*.part"
_WHAT = "the uploads directory"
# Writes are batched so a 50 MB file costs a few hundred thread hops, not thousands.
WRITE_BATCH = 256 * 1024
MAX_FILENAME = 255
# A partial upload not written to for this long (seconds) is no longer being received: a
# stalled body is cut off long before (ELIZA_BODY_TIMEOUT).
PARTIAL_UPLOAD_MAX_AGE = 3600.0
_BAD_NAME_PARTS = ("..", "/", "\\", "\x00")


@dataclass(frozen=True)
class UploadPolicy:
    allowed: frozenset[str]
    max_bytes: int


@dataclass(frozen=True)
class SavedUpload:
    path: Path
    filename: str
    original_name: str
    mime: str
    size: int


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"File exceeds the {limit // (1024 * 1024)} MB upload limit",
                           code="FILE_TOO_LARGE")


def check_length(content_length: int | None, policy: UploadPolicy) -> None:
    """Refuse on the declared length alone, before a byte of the body is read."""
    if content_length is not None and content_length > policy.max_bytes:
        raise too_large(policy.max_bytes)


def safe_dir(base: Path, entity_id: str, what: str) -> Path:
    """`base/<entity_id>`, for a UUID id only, and only if it resolves under `base`."""
    if validate_uuid(entity_id) is None:
        raise InvalidId(f"Invalid {what} ID format")
    root = base.resolve()
    target = (root / entity_id).resolve()
    if target.parent != root:
        raise InvalidId(f"Invalid {what} ID format")
    return target


def missing_file(shared: bool) -> NotFound:
    """The 404 for a media file this server does not have. In a deployment of several
    hosts the likely cause is that another host stored it in an uploads directory this host
    does not see."""
    if not shared:
        return NotFound("File not found")
    return NotFound(
        "File not found on this host. If another host of this deployment stored it, this"
        " host does not see the shared uploads directory: set ELIZA_UPLOADS_DIR on every"
        " host to one directory they all share (NFS or similar)",
        details={"setting": "ELIZA_UPLOADS_DIR"})


def boundary_of(content_type: str | None) -> bytes:
    kind, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    # python-multipart raises (a 500) on a boundary longer than it takes.
    if kind != b"multipart/form-data" or not boundary or len(boundary) > MAX_BOUNDARY_LENGTH:
        raise BadRequest("Expected a multipart/form-data body with a file field 'file'",
                         code="INVALID_CONTENT_TYPE")
    return boundary


class _Events:
    """python-multipart's sync callbacks, queued so the async side can act on them."""

    def __init__(self) -> None:
        self.queue: list[tuple[str, Any]] = []
        self.ended = False
        self._field = bytearray()
        self._value = bytearray()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": lambda: self.queue.append(("begin", None)),
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": lambda: self.queue.append(("headers", None)),
            "on_part_data": lambda d, s, e: self.queue.append(("data", d[s:e])),
            "on_part_end": lambda: self.queue.append(("end", None)),
            "on_end": self._end,
        }

    def _header_end(self) -> None:
        name = bytes(self._field).decode("latin-1").strip().lower()
        self.queue.append(("header", (name, bytes(self._value))))
        self._field.clear()
        self._value.clear()

    def _end(self) -> None:
        self.ended = True

    def take(self) -> list[tuple[str, Any]]:
        events, self.queue = self.queue, []
        return events


class _Receiver:
    def __init__(self, target: Path, policy: UploadPolicy) -> None:
        self.target = target
        self.policy = policy
        self.temp = target / PART_GLOB.replace("*", secrets.token_hex(8))
        self.file: Any = None  # trio's async file wrapper while the file part streams in
        self.headers: dict[str, bytes] = {}
        self.in_file_part = False
        self.saw_file = False
        self.original_name = ""
        self.mime = ""
        self.check: ContentCheck | None = None
        self.size = 0
        self.pending = bytearray()

    async def handle(self, kind: str, value: Any) -> None:
        if kind == "begin":
            self.headers = {}
        elif kind == "header":
            self.headers[value[0]] = value[1]
        elif kind == "headers":
            await self._start_part()
        elif kind == "data" and self.in_file_part:
            await self._data(value)
        elif kind == "end" and self.in_file_part:
            await self._finish_part()

    async def _start_part(self) -> None:
        _, disposition = parse_options_header(self.headers.get("content-disposition"))
        filename = disposition.get(b"filename")
        if filename is None:
            return  # a plain text field: ignored (its bytes still count toward the cap)
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if name != FIELD:
            raise BadRequest(f"Unexpected file field {name!r}: send the file as 'file'")
        if self.saw_file:
            raise BadRequest("Only one file may be uploaded per request")
        self.saw_file = True
        original = filename.decode("utf-8", "replace")
        if not original or any(part in original for part in _BAD_NAME_PARTS):
            raise BadRequest("Invalid filename detected")
        self.original_name = original[:MAX_FILENAME]
        declared, _ = parse_options_header(self.headers.get("content-type"))
        self.mime = declared.decode("latin-1").lower()
        if self.mime not in self.policy.allowed:
            raise UnsupportedMediaType(f"File type {self.mime or 'unknown'!r} is not allowed")
        self.check = ContentCheck(self.mime)
        await trio.Path(self.target).mkdir(parents=True, exist_ok=True)
        self.file = await trio.open_file(self.temp, "xb")
        self.in_file_part = True

    async def _data(self, data: bytes) -> None:
        assert self.check is not None
        self.size += len(data)
        if self.size > self.policy.max_bytes:
            raise too_large(self.policy.max_bytes)
        if not self.check.feed(data):
            raise self._disguised()
        self.pending += data
        if len(self.pending) >= WRITE_BATCH:
            await self._flush()

    async def _flush(self) -> None:
        if self.pending:
            await self.file.write(bytes(self.pending))
            self.pending.clear()

    async def _finish_part(self) -> None:
        assert self.check is not None
        self.in_file_part = False
        if self.size == 0:
            raise BadRequest("The uploaded file is empty")
        if not self.check.finish():
            raise self._disguised()
        await self._flush()
        await self.file.aclose()
        self.file = None

    def _disguised(self) -> UnsupportedMediaType:
        return UnsupportedMediaType(f"The file's content does not match its type {self.mime!r}")

    async def commit(self) -> SavedUpload:
        if not self.saw_file:
            raise BadRequest("No media file provided")
        filename = f"{int(time.time() * 1000)}-{secrets.randbelow(10**9)}{EXTENSIONS[self.mime]}"
        final = self.target / filename
        await trio.Path(self.temp).rename(final)
        return SavedUpload(final, filename, self.original_name, self.mime, self.size)

    async def discard(self) -> None:
        # Each step on its own: closing may fail on a full disk (the last flush), and the
        # partial file must still go; a failure here must not hide the request's own error.
        with trio.CancelScope(shield=True):
            if self.file is not None:
                file, self.file = self.file, None
                try:
                    await file.aclose()
                except OSError as exc:
                    log.warning("closing the partial upload %s failed: %s", self.temp, exc)
            try:
                await trio.Path(self.temp).unlink(missing_ok=True)
            except OSError as exc:
                log.error("could not remove the partial upload %s: %s", self.temp, exc)


async def receive_upload(body: AsyncIterable[bytes], content_type: str | None,
                         content_length: int | None, target: Path,
                         policy: UploadPolicy) -> SavedUpload:
    """Stream a multipart body, keep its one `file` part in `target`, and describe it."""
    check_length(content_length, policy)
    events = _Events()
    parser = MultipartParser(boundary_of(content_type), events.callbacks())  # type: ignore[arg-type]
    receiver = _Receiver(target, policy)
    received = 0
    try:
        try:
            async for chunk in body:
                received += len(chunk)
                if received > policy.max_bytes:
                    raise too_large(policy.max_bytes)
                try:
                    parser.write(chunk)
                except FormParserError as exc:
                    raise BadRequest(f"Malformed multipart body: {exc}") from None
                for kind, value in events.take():
                    await receiver.handle(kind, value)
        except RequestEntityTooLarge:
            raise too_large(policy.max_bytes) from None
        if not events.ended or receiver.in_file_part:
            raise BadRequest("Malformed multipart body: it ends before its closing boundary")
        return await receiver.commit()
    except BaseException as exc:
        await receiver.discard()
        fault = storage_fault(exc)
        if fault is None:
            raise
        log.error("upload to %s refused: %s", target, exc)
        raise fault from exc


def storage_fault(exc: BaseException) -> InsufficientStorage | None:
    """The 507 a failed file write stands for: a full disk, an exhausted quota or a
    read-only file system; None for any other error."""
    if not isinstance(exc, OSError):
        return None
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage.disk_full(_WHAT)
    if exc.errno == errno.EROFS:
        return InsufficientStorage.read_only(_WHAT)
    return None


def sweep_partial_uploads(*roots: Path, older_than: float = 0.0) -> tuple[int, int]:
    """Remove the partial uploads a killed server left under `roots`, those last written
    more than `older_than` seconds ago; (files, bytes). A server alone with its uploads
    directory (holding the data directory's lock) removes them all; where other servers
    may be receiving uploads into the same directory (a shared ELIZA_UPLOADS_DIR, workers
    on PostgreSQL), pass `PARTIAL_UPLOAD_MAX_AGE`: their uploads in progress look the same,
    but are written to far more often than that."""
    count = size = 0
    before = time.time() - older_than
    for root in roots:
        for path in root.glob(f"*/{PART_GLOB}"):
            try:
                stat = path.stat()
                if older_than and stat.st_mtime > before:
                    continue
                length = stat.st_size
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.error("could not remove the partial upload %s: %s", path, exc)
                continue
            count += 1
            size += length
    if count:
        log.warning("removed %d partial upload(s) (%d bytes) left by an earlier run",
                    count, size)
    return count, size
