"""Engine.IO v4 and Socket.IO v5 text codecs: pure functions, no I/O.

Engine.IO packet: one type digit then the data (`4hello`). A polling payload joins packets
with the record separator `\\x1e`. Socket.IO packet (carried in an Engine.IO message):
`<type>[<nsp>,][<ack id>][<JSON>]`, e.g. `421["chat","hi"]` or `44/admin,{"message":"x"}`.

Binary is refused: Engine.IO `b<base64>` packets and Socket.IO types 5/6 (attachments) raise
`ProtocolError`; the ElizaOS clients never send binary.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, final

RECORD_SEPARATOR = "\x1e"

# socket.io-parser refuses these as EVENT names: the client library uses them itself.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


class ProtocolError(ValueError):
    """The peer sent something that is not valid Engine.IO v4 / Socket.IO v5 text."""


class EnginePacketType(IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


class SocketPacketType(IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@dataclass(frozen=True, slots=True)
class EnginePacket:
    type: EnginePacketType
    data: str = ""

    def encode(self) -> str:
        return f"{int(self.type)}{self.data}"


@dataclass(frozen=True, slots=True)
class SocketPacket:
    """A Socket.IO packet; `data is None` means "no payload" (JSON null is never valid)."""

    type: SocketPacketType
    data: Any = None
    nsp: str = "/"
    id: int | None = None


@final
class OutPacket:
    """An encoded Engine.IO packet on its way out.

    One broadcast queues the same object to every target session, so the work of encoding
    is done once per broadcast, not once per socket: `text` for the polling transport, and
    `frame` (the websocket frame, built on first use and kept) for websockets.
    """

    __slots__ = ("_frame", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        frame = self._frame
        if frame is None:
            frame = self._frame = websocket_text_frame(self.text)
        return frame

    def __repr__(self) -> str:
        return f"OutPacket({self.text!r})"


def dumps(value: Any) -> str:
    """Compact JSON as JS `JSON.stringify` writes it; NaN/Infinity raise (JS cannot parse them)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            # A lone surrogate (a client may send "\ud83d") cannot go out as UTF-8: escape it,
            # as JSON.stringify does.
            return json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"invalid JSON constant {name}")


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"invalid JSON payload: {exc.msg}") from None
    except RecursionError:
        raise ProtocolError("JSON payload nested too deeply") from None


# -- Engine.IO ---------------------------------------------------------------------------------


def decode_engine_packet(text: str) -> EnginePacket:
    """Decode one Engine.IO text packet."""
    if not text:
        raise ProtocolError("empty Engine.IO packet")
    head = text[0]
    if head == "b":
        raise ProtocolError("binary Engine.IO packets are not supported")
    if not "0" <= head <= "6":
        raise ProtocolError(f"unknown Engine.IO packet type {head!r}")
    return EnginePacket(EnginePacketType(int(head)), text[1:])


def encode_payload(packets: Iterable[str]) -> str:
    """Join encoded Engine.IO packets into one polling payload."""
    return RECORD_SEPARATOR.join(packets)


def decode_payload(text: str) -> list[EnginePacket]:
    """Split a polling payload into its packets."""
    if not text:
        raise ProtocolError("empty polling payload")
    return [decode_engine_packet(part) for part in text.split(RECORD_SEPARATOR)]


def open_packet(
    sid: str, *, upgrades: list[str], ping_interval: float, ping_timeout: float, max_payload: int
) -> str:
    """The handshake packet; intervals are given in seconds and sent in milliseconds."""
    return EnginePacket(
        EnginePacketType.OPEN,
        dumps(
            {
                "sid": sid,
                "upgrades": upgrades,
                "pingInterval": round(ping_interval * 1000),
                "pingTimeout": round(ping_timeout * 1000),
                "maxPayload": max_payload,
            }
        ),
    ).encode()


# -- websocket framing ------------------------------------------------------------------------


def websocket_text_frame(text: str) -> bytes:
    """One unfragmented, unmasked RFC 6455 text frame: what a server sends for `text` on a
    connection without extensions (byte for byte what wsproto produces)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 0x10000:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


# -- Socket.IO ---------------------------------------------------------------------------------


def encode_socket_packet(packet: SocketPacket) -> str:
    """Encode a Socket.IO packet (the text of an Engine.IO MESSAGE, without its `4`)."""
    if packet.type in (SocketPacketType.BINARY_EVENT, SocketPacketType.BINARY_ACK):
        raise ProtocolError("binary Socket.IO packets are not supported")
    parts = [str(int(packet.type))]
    if packet.nsp != "/":
        parts.append(packet.nsp + ",")
    if packet.id is not None:
        parts.append(str(packet.id))
    if packet.data is not None:
        parts.append(dumps(packet.data))
    return "".join(parts)


def _valid_payload(kind: SocketPacketType, data: Any) -> bool:
    # Mirrors socket.io-parser's isPayloadValid.
    if kind is SocketPacketType.CONNECT:
        return data is None or isinstance(data, dict)
    if kind is SocketPacketType.DISCONNECT:
        return data is None
    if kind is SocketPacketType.CONNECT_ERROR:
        return isinstance(data, str | dict)
    if kind is SocketPacketType.EVENT:
        return (
            isinstance(data, list)
            and len(data) > 0
            and isinstance(data[0], str)
            and data[0] not in RESERVED_EVENTS
        )
    return isinstance(data, list)  # ACK


def decode_socket_packet(text: str) -> SocketPacket:
    """Decode a Socket.IO packet; raises `ProtocolError` for anything malformed or binary."""
    if not text or not "0" <= text[0] <= "6":
        raise ProtocolError(f"unknown Socket.IO packet type in {text[:16]!r}")
    kind = SocketPacketType(int(text[0]))
    if kind in (SocketPacketType.BINARY_EVENT, SocketPacketType.BINARY_ACK):
        raise ProtocolError("Binary packets are not supported")
    i = 1
    nsp = "/"
    if text.startswith("/", i):
        comma = text.find(",", i)
        end = len(text) if comma < 0 else comma
        nsp = text[i:end]
        i = end + 1
    ack_id: int | None = None
    j = i
    while j < len(text) and text[j].isascii() and text[j].isdigit():
        j += 1
    if j > i:
        if j - i > 15:  # beyond a JS safe integer: not an id any client produces
            raise ProtocolError("ack id too long")
        ack_id = int(text[i:j])
        i = j
    data = _loads(text[i:]) if i < len(text) else None
    if not _valid_payload(kind, data):
        raise ProtocolError(f"invalid payload for Socket.IO {kind.name} packet")
    if ack_id is not None and kind not in (SocketPacketType.EVENT, SocketPacketType.ACK):
        raise ProtocolError(f"an ack id is not allowed on a {kind.name} packet")
    if ack_id is None and kind is SocketPacketType.ACK:
        raise ProtocolError("an ACK packet needs an ack id")
    return SocketPacket(kind, data, nsp, ack_id)
