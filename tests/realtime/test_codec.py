"""Pure codec tests: Engine.IO packets and payloads, Socket.IO packets, and what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eliza.realtime.codec import (
    EnginePacket,
    EnginePacketType,
    OutPacket,
    ProtocolError,
    SocketPacket,
    SocketPacketType,
    decode_engine_packet,
    decode_payload,
    decode_socket_packet,
    dumps,
    encode_payload,
    encode_socket_packet,
    open_packet,
    websocket_text_frame,
)

E = EnginePacketType
S = SocketPacketType


@pytest.mark.parametrize(
    ("text", "packet"),
    [
        ("2", EnginePacket(E.PING)),
        ("3", EnginePacket(E.PONG)),
        ("2probe", EnginePacket(E.PING, "probe")),
        ("4hello", EnginePacket(E.MESSAGE, "hello")),
        ('42["chat","é✓"]', EnginePacket(E.MESSAGE, '2["chat","é✓"]')),
        ("5", EnginePacket(E.UPGRADE)),
        ("6", EnginePacket(E.NOOP)),
        ("1", EnginePacket(E.CLOSE)),
    ],
)
def test_engine_packet_round_trip(text: str, packet: EnginePacket) -> None:
    assert decode_engine_packet(text) == packet
    assert packet.encode() == text


@pytest.mark.parametrize("text", ["", "7", "x", "bAQID"])
def test_engine_packet_errors(text: str) -> None:
    with pytest.raises(ProtocolError):
        decode_engine_packet(text)


def test_binary_engine_packet_is_refused_clearly() -> None:
    with pytest.raises(ProtocolError, match="binary"):
        decode_engine_packet("bAQIDBA==")


def test_payload_batching_round_trip() -> None:
    packets = ['40{"token":"x"}', '42["message",{"a":"b\\u001e"}]', "3"]
    text = encode_payload(packets)
    assert text == '40{"token":"x"}\x1e42["message",{"a":"b\\u001e"}]\x1e3'
    decoded = decode_payload(text)
    assert [p.encode() for p in decoded] == packets
    assert [p.type for p in decoded] == [E.MESSAGE, E.MESSAGE, E.PONG]


@pytest.mark.parametrize("text", ["", "4a\x1e", "\x1e3", "4a\x1eb4aGk="])
def test_payload_errors(text: str) -> None:
    with pytest.raises(ProtocolError):
        decode_payload(text)


def test_open_packet_shape() -> None:
    text = open_packet(
        "abc", upgrades=["websocket"], ping_interval=25, ping_timeout=20, max_payload=1_000_000
    )
    assert text[0] == "0"
    assert json.loads(text[1:]) == {
        "sid": "abc",
        "upgrades": ["websocket"],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1000000,
    }


@pytest.mark.parametrize(
    ("text", "packet"),
    [
        ("0", SocketPacket(S.CONNECT)),
        ('0{"entityId":"e1"}', SocketPacket(S.CONNECT, {"entityId": "e1"})),
        ('0/admin,{"t":1}', SocketPacket(S.CONNECT, {"t": 1}, nsp="/admin")),
        ("0/admin,", SocketPacket(S.CONNECT, nsp="/admin")),
        ('0{"sid":"x"}', SocketPacket(S.CONNECT, {"sid": "x"})),
        ("1", SocketPacket(S.DISCONNECT)),
        ('2["message",{"type":1}]', SocketPacket(S.EVENT, ["message", {"type": 1}])),
        ('21["message",{"type":1}]', SocketPacket(S.EVENT, ["message", {"type": 1}], id=1)),
        ('2/chat,12["x"]', SocketPacket(S.EVENT, ["x"], nsp="/chat", id=12)),
        ('2["n",1.5,null,true]', SocketPacket(S.EVENT, ["n", 1.5, None, True])),
        ("37[]", SocketPacket(S.ACK, [], id=7)),
        ('3123["ok",2]', SocketPacket(S.ACK, ["ok", 2], id=123)),
        (
            '4{"message":"Invalid namespace"}',
            SocketPacket(S.CONNECT_ERROR, {"message": "Invalid namespace"}),
        ),
        ('4/x,{"message":"m"}', SocketPacket(S.CONNECT_ERROR, {"message": "m"}, nsp="/x")),
    ],
)
def test_socket_packet_round_trip(text: str, packet: SocketPacket) -> None:
    assert decode_socket_packet(text) == packet
    assert encode_socket_packet(packet) == text


def test_socket_connect_without_comma_namespace() -> None:
    # socket.io-parser reads the namespace up to "," or the end of the packet.
    assert decode_socket_packet("0/admin") == SocketPacket(S.CONNECT, nsp="/admin")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "7",
        "x",
        "0[1]",  # CONNECT payload must be an object
        '1{"a":1}',  # DISCONNECT carries nothing
        "2",  # EVENT needs an array
        "2[]",
        "2[1]",  # event name must be a string
        '2["connect"]',  # reserved name
        '2{"a":1}',
        "3[1]",  # ACK needs an id
        '3{"a":1}',
        '2["x",',  # truncated JSON
        '2["x",NaN]',
        '01{"a":1}',  # no ack id on CONNECT
        "2" + "9" * 5000 + '["x"]',  # an absurd ack id
    ],
)
def test_socket_packet_errors(text: str) -> None:
    with pytest.raises(ProtocolError):
        decode_socket_packet(text)


@pytest.mark.parametrize(
    "text", ['51-["upload",{"_placeholder":true,"num":0}]', "61-0[]", '5/x,1-["a"]']
)
def test_binary_socket_packets_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError, match="Binary packets are not supported"):
        decode_socket_packet(text)


def test_binary_socket_packets_cannot_be_encoded() -> None:
    with pytest.raises(ProtocolError):
        encode_socket_packet(SocketPacket(S.BINARY_EVENT, ["x"]))


def test_dumps_is_compact_and_refuses_nan() -> None:
    value: dict[str, Any] = {"a": [1, "é"], "b": None}
    assert dumps(value) == '{"a":[1,"é"],"b":null}'
    with pytest.raises(ValueError, match="Out of range float"):
        dumps(float("nan"))


def test_dumps_escapes_lone_surrogates() -> None:
    value = decode_socket_packet('2["echo","\\ud83d ok é"]').data
    text = dumps(value)
    assert text == '["echo","\\ud83d ok \\u00e9"]'
    text.encode()  # valid UTF-8 on the wire
    assert dumps(["é"]) == '["é"]'


def test_deeply_nested_json_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="nested too deeply"):
        decode_socket_packet("2" + "[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("char", ["x", "é", "✓"])
def test_websocket_text_frame_matches_wsproto(size: int, char: str) -> None:
    from wsproto import ConnectionType
    from wsproto.connection import Connection
    from wsproto.events import TextMessage

    text = char * size
    server = Connection(ConnectionType.SERVER)
    assert websocket_text_frame(text) == server.send(TextMessage(data=text))
    # And a client reads it back as the same text.
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(websocket_text_frame(text))
    (event,) = list(client.events())
    assert isinstance(event, TextMessage)
    assert event.data == text
    assert event.message_finished


def test_out_packet_encodes_its_frame_once() -> None:
    packet = OutPacket('42["messageBroadcast",{"text":"hi"}]')
    frame = packet.frame
    assert frame == websocket_text_frame(packet.text)
    assert packet.frame is frame
