"""Every Socket.IO event the server handles, and some it does not, with hostile payloads:
each malformed send is answered (a `messageError` or an ack with success false), the
connection and the server stay healthy, nothing is stored, and the log stays clean."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import socketio

from .conftest import Target
from .surface import DEFAULT_SERVER, USER_ID

pytestmark = pytest.mark.fuzz

ACK_TIMEOUT = 10.0  # an unanswered call is a hang


def bad_sends(channel: str) -> list[tuple[str, Any]]:
    """SEND_MESSAGE payloads that must be refused, each with a name."""
    base = {"channelId": channel, "senderId": USER_ID, "message": "hello",
            "messageServerId": DEFAULT_SERVER}
    deep: Any = "x"
    for _ in range(200):
        deep = {"a": deep}
    return [
        ("none", None), ("number", 1), ("string", "text"), ("list", [1, 2]), ("empty", {}),
        ("no-channel", {**base, "channelId": None}),
        ("bad-channel", {**base, "channelId": "not-a-uuid"}),
        ("channel-object", {**base, "channelId": {"a": 1}}),
        ("channel-list", {**base, "channelId": [channel]}),
        ("bad-sender", {**base, "senderId": {"a": 1}}),
        ("message-number", {**base, "message": 5}), ("message-blank", {**base, "message": " "}),
        ("message-list", {**base, "message": ["hi"]}),
        ("too-long", {**base, "message": "x" * 200_001}),
        ("surrogate", {**base, "message": "\ud800"}),
        ("surrogate-key", {**base, "metadata": {"\udc00": 1}}),
        ("metadata-list", {**base, "metadata": [1]}), ("metadata-text", {**base, "metadata": "x"}),
        ("attachments-text", {**base, "attachments": "x"}),
        ("source-object", {**base, "source": {"a": 1}}),
        ("sender-name-list", {**base, "senderName": ["x"]}),
        ("server-object", {**base, "messageServerId": {"a": 1}}),
        ("server-list", {**base, "messageServerId": [1]}),
        ("server-bad", {**base, "messageServerId": "not-a-uuid"}),
        ("deep-metadata", {**base, "metadata": deep}),
    ]


def bad_joins() -> list[tuple[str, Any]]:
    return [("none", None), ("number", 1), ("empty", {}), ("channel-number", {"channelId": 5}),
            ("channel-object", {"channelId": {"a": 1}}), ("channel-list", {"roomId": [1]}),
            ("channel-empty", {"channelId": ""})]


def ok_or_refused(ack: Any) -> bool:
    return isinstance(ack, dict) and ack.get("success") is False and bool(ack.get("error"))


class Seen:
    """Every event the client received (python-socketio calls this from its own thread)."""

    def __init__(self, client: socketio.Client) -> None:
        self.names: list[str] = []
        client.on("*", lambda event, *args: self.names.append(event))

    def wait(self, name: str, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while name not in self.names:
            assert time.monotonic() < deadline, f"no {name} within {within} s: {self.names}"
            time.sleep(0.02)


def connect(target: Target) -> tuple[socketio.Client, Seen]:
    client = socketio.Client(reconnection=False)
    events = Seen(client)
    client.connect(target.fuzzer.server.url, transports=["websocket"],
                   auth={"entityId": USER_ID}, wait_timeout=10)
    events.wait("authenticated")
    return client, events


def call(client: socketio.Client, fuzz: Any, event: str, data: Any, what: str) -> Any:
    fuzz.sent += 1
    try:
        return client.call(event, data, timeout=ACK_TIMEOUT)
    except socketio.exceptions.TimeoutError:
        fuzz.problem("SOCKET", event, what, f"HANG: no ack within {ACK_TIMEOUT} s")
    return None


def channel_messages(target: Target, channel: str) -> list[Any]:
    response = target.fuzzer.client.get(f"/api/messaging/channels/{channel}/messages")
    return list(json.loads(response.content)["data"]["messages"])


def test_every_socket_event_with_hostile_payloads(target: Target, fuzz: Any) -> None:
    channel = target.world.values["channel_id"]
    before = channel_messages(target, channel)
    client, events = connect(target)
    try:
        for what, payload in bad_sends(channel):
            for event, data in (("2", payload), ("message", {"type": 2, "payload": payload}),
                                ("message", {"type": "2", "payload": payload})):
                ack = call(client, fuzz, event, data, what)
                # An envelope whose payload is not an object is ignored, as in ElizaOS.
                ignored = event == "message" and not isinstance(payload, dict)
                if not ok_or_refused(ack) and not (ignored and ack is None):
                    fuzz.problem("SOCKET", event, what, f"not refused: ack {ack!r}")
        refusals = events.names.count("messageError")
        for what, payload in bad_joins():
            for event, data in (("1", payload), ("message", {"type": 1, "payload": payload})):
                ack = call(client, fuzz, event, data, what)
                if not ok_or_refused(ack) and not (event == "message" and ack is None):
                    fuzz.problem("SOCKET", event, what, f"join not refused: ack {ack!r}")
        for what, data in (("none", None), ("number", 7), ("no-type", {"payload": {}}),
                           ("unknown-type", {"type": 99, "payload": {}}),
                           ("type-list", {"type": [2], "payload": {}}),
                           ("payload-text", {"type": 2, "payload": "x"})):
            ack = call(client, fuzz, "message", data, what)
            if ack is not None and not ok_or_refused(ack):
                fuzz.problem("SOCKET", "message", what, f"ack {ack!r}")
        for filters in (None, "x", 5, [1], {"level": [1, 2]}, {"agentName": {"a": 1}},
                        {"level": "\u00e9" * 1000}, {"level": 10**30}):
            call(client, fuzz, "update_log_filters", filters, "before subscribing")
            call(client, fuzz, "subscribe_logs", filters, "junk argument")
            call(client, fuzz, "update_log_filters", filters, "subscribed")
            # A log entry goes through the filters: a warning line is written per request
            # that is refused, so make one.
            target.fuzzer.client.get("/api/agents/not-a-uuid")
            call(client, fuzz, "unsubscribe_logs", filters, "junk argument")
        for event in ("nope", "", "x" * 10_000, "messageBroadcast", "authenticated"):
            fuzz.sent += 1
            client.emit(event, {"a": 1})
        # Still healthy: a valid join and a valid send on the same connection work.
        joined = call(client, fuzz, "1", {"channelId": channel}, "valid join")
        assert isinstance(joined, dict), joined
        assert joined["success"] is True, joined
        sent = call(client, fuzz, "2", {"channelId": channel, "senderId": USER_ID,
                                        "message": "still alive",
                                        "messageServerId": DEFAULT_SERVER}, "valid send")
        assert isinstance(sent, dict), sent
        assert sent["success"] is True, sent
        events.wait("messageAck")
    finally:
        client.disconnect()
    # Every refused send also told the client why.
    assert refusals >= len(bad_sends(channel)), refusals
    after = channel_messages(target, channel)
    assert [m["content"] for m in after if m not in before] == ["still alive"]
    fuzz.assert_clean()
    target.check_whole()


RAW_PACKETS = ["42", "42[", "42{}", "42[]", '42[1, 2]', '42[null]', '42["2"', "4", "9", "49",
               "43", '43[1]', "4/nsp,", "4/nsp,0", '40{"a":1}', "41x", "42" + "[" * 5000,
               '42["2", NaN]', '42["2", 1e999]', '42["2", "\\ud800"]', "\x00", "2probe",
               "6", "1"]


def test_raw_engine_io_packets(target: Target, fuzz: Any) -> None:
    """Malformed Engine.IO / Socket.IO packets over long polling: the session may be closed,
    but the server answers and the next connection works."""
    server = target.fuzzer.server
    base = f"{server.url}/socket.io/?EIO=4&transport=polling"
    with httpx.Client(timeout=10, headers={"Host": f"127.0.0.1:{server.port}"}) as http:
        for packet in RAW_PACKETS:
            opened = http.get(base)
            assert opened.status_code == 200, opened.text
            sid = json.loads(opened.text[1:])["sid"]
            url = f"{base}&sid={sid}"
            connect_packet = "40" + json.dumps({"entityId": USER_ID})
            assert http.post(url, content=connect_packet.encode()).text == "ok"
            http.get(url)  # the connect answer and welcome events
            fuzz.sent += 1
            try:
                posted = http.post(url, content=packet.encode())
                if posted.status_code >= 500:
                    fuzz.problem("POLL", packet[:40], "", f"{posted.status_code}")
            except httpx.TimeoutException:
                fuzz.problem("POLL", packet[:40], "", "HANG")
            http.post(url, content=b"1")  # close it, if it is still open
    time.sleep(0.2)  # let the log lines of closed sessions land
    fuzz.assert_clean()
    target.check_whole()
