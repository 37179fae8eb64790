"""Bus events as compact JSON text, for buses shared by several processes.

What travels is a *frame*: the sending worker's id and a batch of events, plus what the
receiving bus needs to notice a loss or a dead link:

    {"w": "w1a2b3c4d5", "s": 17, "t": 1700000000000, "hb": 3, "k": 5, "e": [event, ...]}

- `w`: the sending worker (a bus skips its own frames' events: it delivered them itself);
- `s`: the sender's sequence number of the frame's first event (a heartbeat-only frame
  carries the next one), so a receiver sees events a sender failed to send; absent on a
  frame sent inside a database transaction, which arrives only if that transaction commits;
- `t`: when it was sent (epoch ms); `hb`: a heartbeat number; `k`: a per-process counter
  that keeps two otherwise identical frames of one transaction distinct;
- `e`: the events, each `{"n": name, "f": fields}`. A `NewMessage` carries its `route`
  and `origin` too: they are not part of what listeners see (`to_dict`), but the worker
  that receives it delivers by them.

The text is ASCII (JSON escapes the rest), so its length is its size in bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from .events import ALL_EVENT_TYPES, Event, MessageRoute, NewMessage


class WireError(ValueError):
    """Text that is not a frame or an event this version knows (the message says which)."""


def _compact(value: Any) -> str:
    # ASCII only: a lone surrogate (which JSON input may carry) cannot be encoded otherwise,
    # and the text's length is then its size in bytes.
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def encode_event(event: Event) -> str:
    """One event as JSON text. Raises TypeError when a field holds what JSON cannot carry."""
    values: dict[str, Any] = {}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, MessageRoute):
            value = {"agents": sorted(value.agents), "channel": value.channel}
        elif value is None and isinstance(event, NewMessage):
            continue  # no route, no origin: the defaults
        values[f.name] = value
    try:
        return _compact({"n": event.name, "f": values})
    except ValueError as exc:  # NaN or infinity
        raise TypeError(f"{event.name} cannot go on the wire: {exc}") from None


def decode_event(item: Any) -> Event:
    """The event of one decoded `{"n": name, "f": fields}` item; WireError when the name is
    unknown here or the fields do not fit it."""
    if not isinstance(item, dict) or not isinstance(item.get("f"), dict):
        raise WireError(f"not a bus event: {str(item)[:120]!r}")
    name = item.get("n")
    cls = ALL_EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise WireError(f"unknown bus event {name!r} (sent by a different version?)")
    values = dict(item["f"])
    route = values.get("route")
    if route is not None:
        if not isinstance(route, dict) or not isinstance(route.get("agents"), list):
            raise WireError(f"malformed route in {name}: {str(route)[:120]!r}")
        values["route"] = MessageRoute(frozenset(map(str, route["agents"])),
                                       dict(route.get("channel") or {}))
    try:
        return cls(**values)
    except TypeError as exc:
        raise WireError(f"malformed {name}: {exc}") from None


@dataclass(frozen=True)
class Frame:
    """A decoded frame; `events` are still raw items (`decode_event` each, so one unknown
    event does not cost the others)."""

    worker: str
    events: list[Any]
    seq: int | None = None
    sent_ms: int | None = None
    heartbeat: int | None = None


def frame(worker_id: str, items: Sequence[str], *, seq: int | None = None,
          sent_ms: int | None = None, heartbeat: int | None = None,
          nonce: int | None = None) -> str:
    """A frame of already encoded events (`encode_event`), as text."""
    head = [f'"w":{_compact(worker_id)}']
    for key, value in (("s", seq), ("t", sent_ms), ("hb", heartbeat), ("k", nonce)):
        if value is not None:
            head.append(f'"{key}":{int(value)}')
    return "{" + ",".join(head) + ',"e":[' + ",".join(items) + "]}"


def parse_frame(text: str) -> Frame:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("w"), str):
        raise WireError(f"not a bus frame: {text[:120]!r}")
    events = data.get("e") or []
    if not isinstance(events, list):
        raise WireError(f"malformed events in a frame of {data['w']}")
    return Frame(data["w"], events, _int(data.get("s")), _int(data.get("t")),
                 _int(data.get("hb")))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def encode(event: Event, worker_id: str) -> str:
    """`event` sent by `worker_id`, as one frame of text."""
    return frame(worker_id, [encode_event(event)])


def decode(text: str) -> tuple[str, Event]:
    """The sending worker and the event of a one-event frame (`encode`); WireError when it
    is not one, or names an event this version does not know."""
    parsed = parse_frame(text)
    if len(parsed.events) != 1:
        raise WireError(f"expected one event, found {len(parsed.events)}")
    return parsed.worker, decode_event(parsed.events[0])
