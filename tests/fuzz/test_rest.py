"""Every REST route with hostile path parameters, query values, bodies and multipart uploads,
against one live server: no undocumented 5xx, no hang, the error envelope on every refusal,
a clean server log, and afterwards the server and its objects whole."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Target
from .harness import strict_loads
from .surface import (
    DESTRUCTIVE,
    ELIZA_ID,
    HOSTILE_BODIES,
    HOSTILE_QUERY,
    HOSTILE_SEGMENTS,
    PNG,
    Route,
    hostile_leaves,
    minimal_body,
)

pytestmark = pytest.mark.fuzz

# Real objects these would remove or stop; the throwaway server fuzzes them with real ids.
NEVER_REAL = {("POST", "/api/agents/{agent_id}/stop")}


def safe_routes(target: Target) -> list[Route]:
    return [r for r in target.routes if (r.method, r.rule) not in DESTRUCTIVE]


def real_values(target: Target, route: Route) -> dict[str, str]:
    """The route's parameters naming real objects, except where that would destroy one."""
    values = {name: target.world.values[name] for name in route.params}
    if route.method == "DELETE" or (route.method, route.rule) in NEVER_REAL:
        values = {name: str(uuid.uuid4()) if name not in ("plugin", "rest", "filename")
                  else value for name, value in values.items()}
    return values


def path_variants(target: Target, route: Route) -> Iterator[tuple[str, str]]:
    """(path, what) with each parameter in turn real, random, upper-case or hostile."""
    base = real_values(target, route)
    yield route.fill(base), "real"
    for name in route.params:
        variants = [("random", str(uuid.uuid4())), ("upper", base[name].upper()),
                    *((f"hostile {v[:20]}", v) for v in HOSTILE_SEGMENTS)]
        for label, value in variants:
            yield route.fill({**base, name: value}), f"{name}={label}"


def default_payload(target: Target, route: Route) -> dict[str, Any]:
    """What a path/query variant carries as its body: a plausible one."""
    if not route.takes_body:
        return {}
    if route.is_upload and "upload-media" in route.rule:
        return {"files": {"file": ("pic.png", PNG, "image/png")}, "content_type": None}
    body = minimal_body(route.body_schema, target.world)
    return {"content": json.dumps(body).encode()}


def test_every_route_with_hostile_path_parameters(target: Target, fuzz: Any) -> None:
    routes = safe_routes(target)
    assert len(routes) >= 150, len(routes)  # every method of every rule, aliases included
    for route in routes:
        for path, what in path_variants(target, route):
            fuzz.send(route.method, path, what=what, **default_payload(target, route))
    fuzz.assert_clean()
    target.check_whole()


def test_every_query_parameter_with_hostile_values(target: Target, fuzz: Any) -> None:
    for route in safe_routes(target):
        if route.method != "GET":
            continue
        path = route.fill(real_values(target, route))
        for name in route.query_names:
            for value in HOSTILE_QUERY:
                fuzz.send("GET", f"{path}?{name}={value}", what=name)
            fuzz.send("GET", f"{path}?{name}=1&{name}=x&{name}=", what=f"repeated {name}")
    fuzz.send("POST", "/api/messaging/messages/search", what="fts",
              content=b'{"query": "\\"a\\" NEAR(b OR c:* AND (NOT", "mode": "text"}')
    fuzz.assert_clean()
    target.check_whole()


def snapshot(target: Target, route: Route) -> Any:
    """What a PATCH of a real object may change, read back (None: not comparable)."""
    values = target.world.values
    reads = {
        "/api/agents/{agent_id}": f"/api/agents/{ELIZA_ID}",
        "/api/messaging/messages/{message_id}": f"/api/messaging/messages/{values['message_id']}",
        "/api/messaging/action/{message_id}": f"/api/messaging/messages/{values['message_id']}",
        "/api/messaging/channels/{channel_id}":
            f"/api/messaging/channels/{values['channel_id']}/details",
        "/api/messaging/central-channels/{channel_id}":
            f"/api/messaging/channels/{values['channel_id']}/details",
        "/api/memory/{agent_id}/memories/{memory_id}": f"/api/memory/{ELIZA_ID}/memories",
        "/api/agents/{agent_id}/memories/{memory_id}": f"/api/memory/{ELIZA_ID}/memories",
    }
    path = reads.get(route.rule)
    if route.method != "PATCH" or path is None:
        return None
    response = target.fuzzer.client.get(path)
    data = strict_loads(response.content)["data"]
    data.pop("status", None)  # an agent's run state is not what a PATCH of it changes
    return data


def body_variants(target: Target, route: Route) -> Iterator[tuple[str, bytes, str]]:
    """(what, raw body, content type): whole hostile bodies, each declared field in turn
    given a hostile value in an otherwise plausible body, and other content types."""
    for label, raw in HOSTILE_BODIES:
        yield label, raw, "application/json"
    schema = route.body_schema or {}
    body = minimal_body(schema, target.world)
    for name, prop in schema.get("properties", {}).items():
        for label, leaf in hostile_leaves(prop):
            others = {k: v for k, v in body.items() if k != name}
            raw = json.dumps(others)[:-1].encode()
            raw += (b", " if others else b"") + json.dumps(name).encode() + b": " + leaf + b"}"
            yield f"{name}={label}", raw, "application/json"
    yield "form", b"name=x&content=y", "application/x-www-form-urlencoded"
    yield "text", b"hello", "text/plain"
    yield "json-as-text", json.dumps(body).encode(), "text/plain"
    yield "multipart-no-boundary", b"--x\r\n\r\n", "multipart/form-data"
    yield "json-charset", json.dumps(body).encode("utf-16"), "application/json; charset=utf-16"


def test_every_body_route_with_hostile_bodies(target: Target, fuzz: Any) -> None:
    for route in safe_routes(target):
        if not route.takes_body:
            continue
        path = route.fill(real_values(target, route))
        before = snapshot(target, route)
        for what, raw, content_type in body_variants(target, route):
            response = fuzz.send(route.method, path, content=raw, content_type=content_type,
                                 what=what)
            if before is None or response is None:
                continue
            after = snapshot(target, route)
            if response.status_code >= 400 and after != before:
                fuzz.problem(route.method, path, what, f"a refused PATCH changed the object: "
                             f"{before} -> {after}")
            before = after
    fuzz.assert_clean()
    target.check_whole()


UPLOADS: list[tuple[str, dict[str, Any]]] = [
    ("no-file", {"data": {"name": "x"}, "files": {"other": ("a.txt", b"a", "text/plain")}}),
    ("wrong-bytes", {"files": {"file": ("pic.png", b"not a png", "image/png")}}),
    ("traversal-name", {"files": {"file": ("../../x.png", PNG, "image/png")}}),
    ("nul-name", {"files": {"file": ("a\x00.png", PNG, "image/png")}}),
    ("unicode-name", {"files": {"file": ("\u00e9\U0001f600.png", PNG, "image/png")}}),
    ("huge-name", {"files": {"file": ("n" * 10_000 + ".png", PNG, "image/png")}}),
    ("html", {"files": {"file": ("x.html", b"<script>1</script>", "text/html")}}),
    ("svg", {"files": {"file": ("x.svg", b"<svg/>", "image/svg+xml")}}),
    ("no-type", {"files": {"file": ("x", PNG, "")}}),
    ("empty-file", {"files": {"file": ("x.png", b"", "image/png")}}),
    ("text-with-nul", {"files": {"file": ("x.txt", b"a\x00b", "text/plain")}}),
    ("bad-utf8-text", {"files": {"file": ("x.txt", b"\xff\xfe", "text/plain")}}),
    ("fake-wav", {"files": {"file": ("x.wav", b"RIFF\x00\x00\x00\x00WAVE", "audio/wav")}}),
    ("two-files", {"files": [("file", ("a.png", PNG, "image/png")),
                             ("file", ("b.png", PNG, "image/png"))]}),
]
RAW_MULTIPART: list[tuple[str, bytes, str]] = [
    ("empty", b"", "multipart/form-data; boundary=x"),
    ("no-boundary", b"--x\r\nContent-Disposition: form-data; name=file\r\n\r\nabc\r\n--x--",
     "multipart/form-data"),
    ("truncated", b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\""
     b"\r\nContent-Type: image/png\r\n\r\n\x89PNG", "multipart/form-data; boundary=x"),
    ("no-disposition", b"--x\r\nContent-Type: image/png\r\n\r\nabc\r\n--x--\r\n",
     "multipart/form-data; boundary=x"),
    ("garbage", b"\x00\xff" * 1000, "multipart/form-data; boundary=x"),
    ("huge-header", b"--x\r\nX: " + b"h" * 100_000 + b"\r\n\r\nabc\r\n--x--\r\n",
     "multipart/form-data; boundary=x"),
    ("long-boundary", b"--" + b"b" * 5000 + b"--\r\n", "multipart/form-data; boundary="
     + "b" * 5000),
]


def test_upload_routes_with_odd_multipart(target: Target, fuzz: Any) -> None:
    uploads = [r for r in target.routes if r.is_upload]
    assert len(uploads) >= 10, uploads
    for route in uploads:
        path = route.fill(real_values(target, route))
        for what, kwargs in UPLOADS:
            fuzz.send("POST", path, what=what, content_type=None, **kwargs)
        for what, raw, content_type in RAW_MULTIPART:
            fuzz.send("POST", path, content=raw, content_type=content_type, what=what)
    fuzz.assert_clean()
    target.check_whole()
