"""Bus events as they travel between workers: every event type comes back equal, a
message's route and origin included; what this version cannot read is a clear error."""

from __future__ import annotations

import json

import pytest

from eliza.bus import (
    ALL_EVENT_TYPES,
    AgentChanged,
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    Event,
    LeaseReleased,
    LogRecords,
    MessageComplete,
    MessageDeleted,
    MessageRoute,
    MessageStreamChunk,
    NewMessage,
    ServerAgentUpdate,
    WireError,
    WorkerJoined,
    decode,
    encode,
)
from eliza.bus.wire import decode_event, encode_event, frame, parse_frame

MESSAGE = {"id": "m1", "channel_id": "c1", "message_server_id": "s1", "server_id": "s1",
           "author_id": "u1", "content": "héllo \u0000 \U0001f600 \ud800 \"quoted\"",
           "created_at": 17,
           "raw_message": {"text": "x", "nested": [1, 2.5, None, True]}, "metadata": {}}

SAMPLES: dict[str, Event] = {
    NewMessage.name: NewMessage(
        MESSAGE, route=MessageRoute(frozenset({"a1", "a2"}), {"id": "c1", "type": "DM"}),
        origin="sid-123"),
    MessageDeleted.name: MessageDeleted("m1", "c1"),
    ChannelCleared.name: ChannelCleared("c1"),
    ChannelUpdated.name: ChannelUpdated("c1", {"name": "renamed", "metadata": {"a": 1}}),
    ChannelDeleted.name: ChannelDeleted("c1"),
    ServerAgentUpdate.name: ServerAgentUpdate("agent_added_to_server", "s1", "a1"),
    MessageComplete.name: MessageComplete("c1", "s1"),
    MessageStreamChunk.name: MessageStreamChunk("r1", "c1", "a1", "chunk", 3, "m1"),
    AgentChanged.name: AgentChanged("a1", "started"),
    LeaseReleased.name: LeaseReleased("agent:a1", "w0123456789"),
    WorkerJoined.name: WorkerJoined("w0123456789"),
    LogRecords.name: LogRecords("w0123456789", [{"level": 30, "msg": "hi", "time": 5}]),
}


def test_there_is_a_sample_of_every_event_type() -> None:
    assert set(SAMPLES) == set(ALL_EVENT_TYPES)
    assert all(type(SAMPLES[name]) is cls for name, cls in ALL_EVENT_TYPES.items())


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_event_type_round_trips_with_the_sender(name: str) -> None:
    event = SAMPLES[name]
    text = encode(event, "w-sender")
    assert "\n" not in text
    assert ": " not in text
    assert text.isascii()  # so its length is its size, and a lone surrogate travels too
    worker, back = decode(text)
    assert worker == "w-sender"
    assert type(back) is type(event)
    assert back == event
    assert back.to_dict() == event.to_dict()


def test_a_message_keeps_its_route_and_origin_though_listeners_never_see_them() -> None:
    event = SAMPLES[NewMessage.name]
    assert isinstance(event, NewMessage)
    _, back = decode(encode(event, "w"))
    assert isinstance(back, NewMessage)
    assert back.route == event.route
    assert back.origin == "sid-123"
    assert "route" not in back.to_dict()
    assert "origin" not in back.to_dict()
    # Without them, they stay None (the message reaches every subscription).
    _, plain = decode(encode(NewMessage(MESSAGE), "w"))
    assert isinstance(plain, NewMessage)
    assert plain.route is None
    assert plain.origin is None


def test_an_unknown_event_is_a_clear_error_and_costs_its_frame_nothing_else() -> None:
    good = encode_event(ChannelCleared("c1"))
    text = frame("w9", ['{"n":"eliza:from_the_future","f":{"x":1}}', good], seq=4)
    parsed = parse_frame(text)
    assert (parsed.worker, parsed.seq) == ("w9", 4)
    with pytest.raises(WireError, match="unknown bus event 'eliza:from_the_future'"):
        decode_event(parsed.events[0])
    assert decode_event(parsed.events[1]) == ChannelCleared("c1")


@pytest.mark.parametrize(("text", "error"), [
    ("not json", "not JSON"),
    ('{"e": []}', "not a bus frame"),
    (frame("w", ['{"n":"channel_cleared","f":{"wrong":1}}']), "malformed channel_cleared"),
    (frame("w", ['{"n":"new_message","f":{"message":{},"route":"x"}}']), "malformed route"),
])
def test_what_is_not_an_event_is_refused_with_the_reason(text: str, error: str) -> None:
    with pytest.raises(WireError, match=error):
        decode(text)


def test_an_event_json_cannot_carry_is_refused_before_it_goes_anywhere() -> None:
    with pytest.raises(TypeError):
        encode(ChannelUpdated("c1", {"when": object()}), "w")
    with pytest.raises(TypeError):
        encode(ChannelUpdated("c1", {"x": float("nan")}), "w")


def test_a_frame_carries_its_head_and_its_events_as_json() -> None:
    items = [encode_event(SAMPLES[n]) for n in (ChannelCleared.name, WorkerJoined.name)]
    text = frame("w1", items, seq=10, sent_ms=1234, heartbeat=7, nonce=2)
    data = json.loads(text)
    assert {k: data[k] for k in ("w", "s", "t", "hb", "k")} == {
        "w": "w1", "s": 10, "t": 1234, "hb": 7, "k": 2}
    assert [decode_event(e) for e in parse_frame(text).events] == [
        SAMPLES[ChannelCleared.name], SAMPLES[WorkerJoined.name]]
