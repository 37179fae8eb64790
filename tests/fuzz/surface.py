"""What the fuzzer attacks: every HTTP route (the OpenAPI document's declared operations
plus the app's url map, so undeclared routes and aliases are covered), the real objects the
path parameters can name, and the hostile values put in paths, queries and bodies."""

from __future__ import annotations

import json
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import make_settings
from eliza import ids
from eliza.app import create_app

from .harness import Fuzzer, strict_loads

ELIZA_ID = ids.string_to_uuid("Eliza")
USER_ID = "965189c0-221e-42f3-89eb-fb91df1f8fe8"
DEFAULT_SERVER = ids.DEFAULT_SERVER_ID
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8"
       b"N\x00\x00\x00\x00IEND\xaeB`\x82")
_PARAM = re.compile(r"<(?:[a-z]+:)?(\w+)>")

# Routes that end the server or rewrite its environment, run on a throwaway server
# (tests/fuzz/test_destructive.py) so the main fuzz server keeps running.
DESTRUCTIVE = {("POST", "/api/server/stop"), ("POST", "/api/runtime/stop"),
               ("POST", "/api/system/env/local")}


@dataclass(frozen=True)
class Route:
    method: str
    rule: str  # /api/agents/{agent_id}
    params: tuple[str, ...]
    operation: dict[str, Any] | None  # the OpenAPI operation, when declared

    @property
    def query_names(self) -> list[str]:
        if self.operation is None:
            return list(COMMON_QUERY)
        return [p["name"] for p in self.operation.get("parameters", []) if p["in"] == "query"]

    @property
    def body_schema(self) -> dict[str, Any] | None:
        if self.operation is not None:
            body = self.operation.get("requestBody", {})
            schema: dict[str, Any] | None = body.get("content", {}).get(
                "application/json", {}).get("schema")
            return schema
        return UNDECLARED_BODIES.get((self.method, self.rule))

    @property
    def takes_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH")

    @property
    def is_upload(self) -> bool:
        return self.rule.endswith("upload-media") or self.rule.startswith("/api/audio/")

    def fill(self, values: dict[str, str]) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], self.rule)


# Query names the undeclared routes (sessions, plugins, audio) might read.
COMMON_QUERY = ("limit", "before", "after", "offset", "agentId", "userId")
# Bodies of the routes the OpenAPI document does not declare yet, as the handlers read them.
_UUID = {"type": "string", "format": "uuid"}
UNDECLARED_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/messaging/sessions"): {"type": "object", "required": ["agentId", "userId"],
        "properties": {"agentId": _UUID, "userId": _UUID, "metadata": {"type": "object"},
                       "timeoutConfig": {"type": "object", "properties": {
                           "timeoutMinutes": {"type": "integer"},
                           "autoRenew": {"type": "boolean"},
                           "maxDurationMinutes": {"type": "integer"},
                           "warningThresholdMinutes": {"type": "integer"}}}}},
    ("POST", "/api/messaging/sessions/{session_id}/messages"): {
        "type": "object", "required": ["content"],
        "properties": {"content": {"type": "string", "maxLength": 4000},
                       "metadata": {"type": "object"}, "attachments": {"type": "array"},
                       "transport": {"type": "string"}}},
    ("PATCH", "/api/messaging/sessions/{session_id}/timeout"): {
        "type": "object", "properties": {"timeoutMinutes": {"type": "integer"},
                                         "autoRenew": {"type": "boolean"},
                                         "maxDurationMinutes": {"type": "integer"}}},
    **{("POST", f"/api/audio/{{agent_id}}/{tail}"): {
        "type": "object", "required": ["text"],
        "properties": {"text": {"type": "string"}, "roomId": _UUID, "entityId": _UUID,
                       "userName": {"type": "string"}}}
       for tail in ("audio-messages/synthesize", "speech/generate", "speech/conversation")},
}


def all_routes(document: dict[str, Any]) -> list[Route]:
    """Every (method, rule) of the app's url map, with its OpenAPI operation if declared."""
    app = create_app(make_settings(Path(tempfile.mkdtemp(prefix="fuzz-routes-"))))
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.websocket or rule.rule.startswith(("/static/", "/socket.io")):
            continue
        path = _PARAM.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = document["paths"].get(path, {}).get(method.lower())
            routes.append(Route(method, path, tuple(_PARAM.findall(rule.rule)), operation))
    return sorted(routes, key=lambda r: (r.rule, r.method))


# -- the real objects -----------------------------------------------------------------------


@dataclass
class World:
    """Real objects for the path parameters, created before the fuzz run."""

    values: dict[str, str] = field(default_factory=dict)
    second_agent: str = ""
    dm_channel: str = ""
    message_text: str = ""

    def real(self, name: str) -> str | None:
        return self.values.get(name)


def _ok(fuzzer: Fuzzer, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    if body is not None:
        response = fuzzer.send_json(method, path, body, what="fixture")
    else:
        response = fuzzer.send(method, path, what="fixture", **kw)
    assert response is not None
    assert response.status_code < 300, (
        path, response and response.text[:500])
    return strict_loads(response.content) if response.content else None


def wait_for(check: Any, what: str, within: float = 20.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def build_world(fuzzer: Fuzzer) -> World:
    """An agent of our own, a channel with a message, one of Eliza's memories (a DM turn),
    a room, a world, a session, a log, a run and an uploaded file."""
    world = World(message_text="the fuzzer's fixture message")
    created = _ok(fuzzer, "POST", "/api/agents",
                  {"characterJson": {"name": "Fuzz Target", "bio": ["a fixture"]}})
    world.second_agent = created["data"]["id"]
    _ok(fuzzer, "POST", f"/api/agents/{world.second_agent}/start", {})
    channel = _ok(fuzzer, "POST", "/api/messaging/channels", {
        "name": "fuzz group", "message_server_id": DEFAULT_SERVER, "type": "GROUP",
        "participantCentralUserIds": [USER_ID]})["data"]
    message = _ok(fuzzer, "POST", f"/api/messaging/channels/{channel['id']}/messages", {
        "author_id": USER_ID, "content": world.message_text,
        "message_server_id": DEFAULT_SERVER})["data"]
    dm = _ok(fuzzer, "POST", "/api/messaging/channels", {
        "name": "fuzz dm", "message_server_id": DEFAULT_SERVER, "type": "DM",
        "participantCentralUserIds": [USER_ID, ELIZA_ID]})["data"]
    world.dm_channel = dm["id"]
    _ok(fuzzer, "POST", f"/api/messaging/channels/{dm['id']}/messages", {
        "author_id": USER_ID, "content": "I feel sad", "message_server_id": DEFAULT_SERVER,
        "metadata": {"isDm": True}})
    dm_room = ids.create_unique_uuid(ELIZA_ID, dm["id"])

    def turn_done() -> Any:
        mems = _ok(fuzzer, "GET", f"/api/memory/{ELIZA_ID}/rooms/{dm_room}/memories")
        logs = _ok(fuzzer, "GET", f"/api/agents/{ELIZA_ID}/logs?roomId={dm_room}")
        return len(mems["data"]["memories"]) >= 2 and logs["data"] and (mems, logs)

    mems, logs = wait_for(turn_done, "Eliza's reply, its memories and logs")
    runs = _ok(fuzzer, "GET", f"/api/agents/{ELIZA_ID}/runs")["data"]
    run_list = runs.get("runs", runs) if isinstance(runs, dict) else runs
    room = _ok(fuzzer, "POST", f"/api/memory/{ELIZA_ID}/rooms", {"name": "fuzz room"})["data"]
    made = _ok(fuzzer, "POST", f"/api/agents/{ELIZA_ID}/worlds", {"name": "fuzz world"})
    session = _ok(fuzzer, "POST", "/api/messaging/sessions",
                  {"agentId": ELIZA_ID, "userId": USER_ID})
    upload = _ok(fuzzer, "POST", f"/api/media/agents/{ELIZA_ID}/upload-media",
                 files={"file": ("pic.png", PNG, "image/png")}, content_type=None)
    job = _ok(fuzzer, "POST", "/api/messaging/jobs",
              {"agentId": ELIZA_ID, "userId": USER_ID, "content": "a fuzz job"})
    plugins = _ok(fuzzer, "GET", "/api/plugins")["data"]
    plugin_names = [p.get("name") for p in (plugins.get("plugins", plugins)
                                            if isinstance(plugins, dict) else plugins)
                    if isinstance(p, dict)]
    world.values = {
        "agent_id": ELIZA_ID,
        "channel_id": channel["id"],
        "message_id": message["id"],
        "server_id": DEFAULT_SERVER,
        "memory_id": mems["data"]["memories"][0]["id"],
        "room_id": room["id"],
        "world_id": made["data"]["world"]["id"],
        "session_id": session["sessionId"],
        "log_id": logs["data"][0]["id"],
        "run_id": run_list[0]["runId"] if run_list and "runId" in run_list[0]
        else str(uuid.uuid4()),
        "filename": upload["data"]["filename"],
        "file_id": upload["data"]["id"],
        "job_id": job["jobId"],
        "asset": "swagger-ui.css",
        "plugin": next((n for n in plugin_names if isinstance(n, str)), "eliza"),
        "rest": "status",
    }
    return world


# -- hostile values -------------------------------------------------------------------------

# Path segments, already percent-encoded as they go on the wire.
HOSTILE_SEGMENTS = [
    "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e", "..%5C..%5Cserver.lock", "a%00b", "%00",
    "x" * 4000, "%C3%A9%F0%9F%98%80", "%ED%A0%80", "%FF%FE", "null", "undefined", "-1", "0",
    "1e999", "NaN", "%20", "00000000-0000-0000-0000-00000000000g",
    "00000000000000000000000000000000", "%27%20OR%201%3D1%20--", "%22a%22%20NEAR(b", ".env",
    "%7B%7D",
]
# Query values, percent-encoded.
HOSTILE_QUERY = [
    "", "-1", "0", "99999999999999999999999", "1e999", "NaN", "-Infinity", "1.5", "x" * 5000,
    "%00", "%22a%22%20NEAR(b", "a*%20OR%20b%3A*", "true", "%5B%5D", "%ED%A0%80", "%FF",
    "2999-13-45T99%3A99%3A99Z", "not-a-uuid", "00000000-0000-0000-0000-000000000000",
]
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
# Whole bodies sent with a JSON content type.
HOSTILE_BODIES: list[tuple[str, bytes]] = [
    ("empty", b""), ("truncated", b'{"a": '), ("null", b"null"), ("array", b"[]"),
    ("number", b"1"), ("string", b'"text"'), ("object", b"{}"), ("deep-array", DEEP_ARRAY),
    ("deep-object", DEEP_OBJECT), ("surrogate", b'{"name": "\\ud800", "text": "\\udc00"}'),
    ("surrogate-key", b'{"\\ud800": 1}'), ("overflow", b'{"limit": 1e999}'),
    ("nan", b'{"limit": NaN}'), ("infinity", b'{"offset": -Infinity}'),
    ("not-utf8", b'{"name": "\xff\xfe"}'), ("nul", b'{"name": "a\\u0000b"}'),
    ("bom", b'\xef\xbb\xbf{"name": "bom"}'), ("duplicate-keys", b'{"name": 1, "name": "x"}'),
    ("big-int", b'{"limit": 123456789012345678901234567890}'),
    ("over-limit", b'{"pad": "' + b"x" * 2_200_000 + b'"}'),
]


def hostile_leaves(schema: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Wrong-typed and out-of-range values for one field, as raw JSON text."""
    leaves = [("null", b"null"), ("int", b"1"), ("negative", b"-1"), ("float", b"1.5"),
              ("huge", b"1e308"), ("overflow", b"1e999"), ("big-int", b"9" * 40),
              ("empty", b'""'), ("list", b"[1, [2]]"), ("object", b'{"a": {"b": null}}'),
              ("bool", b"true"), ("surrogate", b'"\\ud800"'), ("nul", b'"a\\u0000b"'),
              ("not-uuid", b'"not-a-uuid"'), ("fts", b'"\\"a\\" NEAR(b OR c:*"'),
              ("upper-uuid", json.dumps(str(uuid.uuid4()).upper()).encode())]
    limit = schema.get("maxLength")
    if isinstance(limit, int):
        leaves.append(("over-max", json.dumps("y" * (limit + 1)).encode()))
        leaves.append(("at-max", json.dumps("y" * limit).encode()))
    return leaves


def minimal_body(schema: dict[str, Any] | None, world: World) -> dict[str, Any]:
    """A body with each declared property given a plausible value (so a mutation of one
    field reaches the handler's check of that field)."""
    body: dict[str, Any] = {}
    for name, prop in (schema or {}).get("properties", {}).items():
        body[name] = plausible(name, prop, world)
    return body


def plausible(name: str, schema: dict[str, Any], world: World) -> Any:
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        schema = next((o for o in options if o.get("type") != "null"), options[0])
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if schema.get("format") == "uuid" or (kind == "string" and name.endswith(("Id", "_id"))):
        for key, value in (("agent", ELIZA_ID), ("author", USER_ID), ("user", USER_ID),
                           ("entity", USER_ID), ("sender", USER_ID),
                           ("server", DEFAULT_SERVER), ("channel", world.values["channel_id"]),
                           ("room", world.values["room_id"]),
                           ("world", world.values["world_id"])):
            if name.lower().startswith(key):
                return value
        return str(uuid.uuid4())
    if kind == "string":
        return "fuzz"
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    return {}
