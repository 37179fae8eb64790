"""Small files with the right leading bytes for every allowed type, and a multipart builder."""

from __future__ import annotations

import uuid

PAD = bytes(range(256)) * 2

SAMPLES: dict[str, tuple[bytes, str]] = {
    # mime: (content, extension it is stored under)
    "image/png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + PAD, ".png"),
    "image/jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + PAD, ".jpg"),
    "image/gif": (b"GIF89a\x01\x00\x01\x00\x80\x00" + PAD, ".gif"),
    "image/webp": (b"RIFF\x24\x02\x00\x00WEBPVP8 " + PAD, ".webp"),
    "application/pdf": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + PAD, ".pdf"),
    "text/plain": ("héllo wörld, plain UTF-8 text\n".encode() * 20, ".txt"),
    "audio/mpeg": (b"ID3\x03\x00\x00\x00\x00\x00\x00" + PAD, ".mp3"),
    "audio/mp3": (b"\xff\xfb\x90\x64\x00\x00\x00\x00\x00\x00" + PAD, ".mp3"),
    "audio/wav": (b"RIFF\x24\x08\x00\x00WAVEfmt " + PAD, ".wav"),
    "audio/x-wav": (b"RIFF\x24\x08\x00\x00WAVEfmt " + PAD, ".wav"),
    "audio/wave": (b"RIFF\x24\x08\x00\x00WAVEfmt " + PAD, ".wav"),
    "audio/ogg": (b"OggS\x00\x02\x00\x00\x00\x00\x00\x00" + PAD, ".ogg"),
    "audio/flac": (b"fLaC\x00\x00\x00\x22\x10\x00\x10\x00" + PAD, ".flac"),
    "audio/mp4": (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + PAD, ".m4a"),
    "video/mp4": (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00" + PAD, ".mp4"),
    "audio/webm": (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81" + PAD, ".webm"),
    "video/webm": (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81" + PAD, ".webm"),
    "audio/aac": (b"\xff\xf1\x50\x80\x02\x1f\xfc\x00\x00\x00\x00\x00" + PAD, ".aac"),
}

ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + PAD
HTML = b"<html><script>alert(1)</script></html>" + b" " * 64

BOUNDARY = "----elizaTestBoundary7MA4YWxkTrZu0gW"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part(field: str, value: bytes, filename: str | None = None, mime: str | None = None
         ) -> bytes:
    disposition = f'form-data; name="{field}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if mime is not None:
        head += f"Content-Type: {mime}\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


def multipart(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def file_body(content: bytes, mime: str, filename: str = "upload.bin",
              field: str = "file") -> bytes:
    return multipart(part(field, content, filename, mime))


def new_id() -> str:
    return str(uuid.uuid4())
