"""The MIME allow-lists, the extension each allowed type is stored under, and the
magic-number check that refuses a file whose bytes do not match its declared type."""

from __future__ import annotations

import codecs
from collections.abc import Callable

AUDIO_MIME_TYPES: frozenset[str] = frozenset({
    "audio/mpeg", "audio/mp3", "audio/wav", "audio/ogg", "audio/webm", "audio/mp4",
    "audio/aac", "audio/flac", "audio/x-wav", "audio/wave",
})
MEDIA_MIME_TYPES: frozenset[str] = AUDIO_MIME_TYPES | {
    "image/jpeg", "image/png", "image/gif", "image/webp",
    "video/mp4", "video/webm", "application/pdf", "text/plain",
}

# Stored names take their extension from the (checked) MIME type, never from the client.
EXTENSIONS: dict[str, str] = {
    "audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/wav": ".wav", "audio/x-wav": ".wav",
    "audio/wave": ".wav", "audio/ogg": ".ogg", "audio/webm": ".webm", "audio/mp4": ".m4a",
    "audio/aac": ".aac", "audio/flac": ".flac", "image/jpeg": ".jpg", "image/png": ".png",
    "image/gif": ".gif", "image/webp": ".webp", "video/mp4": ".mp4", "video/webm": ".webm",
    "application/pdf": ".pdf", "text/plain": ".txt",
}

# What the media routes answer for a stored file, by extension. Anything else (HTML, SVG,
# scripts a plugin may have generated) goes out as an opaque download.
_SERVED_TYPES: dict[str, str] = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".pdf": "application/pdf", ".txt": "text/plain; charset=utf-8",
    ".mp3": "audio/mpeg", ".wav": "audio/wav", ".ogg": "audio/ogg", ".oga": "audio/ogg",
    ".flac": "audio/flac", ".aac": "audio/aac", ".m4a": "audio/mp4", ".mp4": "video/mp4",
    ".webm": "video/webm", ".weba": "audio/webm", ".json": "application/json",
}
DOWNLOAD_TYPE = "application/octet-stream"

# Leading bytes needed before the magic check can decide (RIFF....WEBP is the longest).
HEAD_BYTES = 12


def content_type_for(filename: str) -> str:
    dot = filename.rfind(".")
    return _SERVED_TYPES.get(filename[dot:].lower(), DOWNLOAD_TYPE) if dot > 0 else (
        DOWNLOAD_TYPE)


def media_kind(mime: str) -> str:
    """The agent upload route's `type`: image, video, audio or document."""
    major = mime.split("/", 1)[0]
    return major if major in ("image", "video", "audio") else "document"


def _riff(form: bytes) -> Callable[[bytes], bool]:
    return lambda head: head[:4] == b"RIFF" and head[8:12] == form


def _prefix(*prefixes: bytes) -> Callable[[bytes], bool]:
    return lambda head: head.startswith(prefixes)


def _mp3(head: bytes) -> bool:
    if head.startswith(b"ID3"):
        return True
    # MPEG audio frame sync: 11 set bits, and a layer (bits 1-2) that is not the reserved 00
    # (00 there is an AAC ADTS header).
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0


def _adts(head: bytes) -> bool:
    return head.startswith(b"ADIF") or (
        len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0)


def _ftyp(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


_EBML = _prefix(b"\x1a\x45\xdf\xa3")
_WAVE = _riff(b"WAVE")

MAGIC: dict[str, Callable[[bytes], bool]] = {
    "image/png": _prefix(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": _prefix(b"\xff\xd8\xff"),
    "image/gif": _prefix(b"GIF87a", b"GIF89a"),
    "image/webp": _riff(b"WEBP"),
    "application/pdf": _prefix(b"%PDF-"),
    "audio/mpeg": _mp3, "audio/mp3": _mp3,
    "audio/wav": _WAVE, "audio/x-wav": _WAVE, "audio/wave": _WAVE,
    "audio/ogg": _prefix(b"OggS"),
    "audio/flac": _prefix(b"fLaC"),
    "audio/mp4": _ftyp, "video/mp4": _ftyp,
    "audio/webm": _EBML, "video/webm": _EBML,
    "audio/aac": _adts,
}


class ContentCheck:
    """Checks a file's bytes against its declared type as they stream in. `feed` returns
    False as soon as the bytes cannot be that type; `finish` gives the final verdict."""

    def __init__(self, mime: str) -> None:
        self.mime = mime
        self._head = bytearray()
        self._decided = False
        self._text = codecs.getincrementaldecoder("utf-8")() if mime == "text/plain" else None

    def feed(self, data: bytes) -> bool:
        if self._text is not None:
            if b"\x00" in data:
                return False
            try:
                self._text.decode(data)
            except UnicodeDecodeError:
                return False
            return True
        if self._decided:
            return True
        self._head += data[: HEAD_BYTES - len(self._head)]
        if len(self._head) < HEAD_BYTES:
            return True
        self._decided = True
        return MAGIC[self.mime](bytes(self._head))

    def finish(self) -> bool:
        if self._text is not None:
            try:
                self._text.decode(b"", final=True)
            except UnicodeDecodeError:
                return False
            return True
        return self._decided or MAGIC[self.mime](bytes(self._head))
