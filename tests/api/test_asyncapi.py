"""`GET /api/asyncapi.json`: the AsyncAPI 3.0 document of the Socket.IO events, generated from
eliza/realtime/events.py. It is public, valid (the official AsyncAPI 3.0 JSON schema, every
reference resolves, every payload a valid JSON Schema), and cannot drift from the code: the
events the server handles and the ones it emits are exactly the ones it describes, and what
a real client receives matches the documented payloads."""

from __future__ import annotations

import ast
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]  # (types-jsonschema is not a dependency)
import pytest
import socketio

from conftest import ROOT, LiveServer, make_settings, open_app, run_node
from eliza.ids import DEFAULT_SERVER_ID
from eliza.server import AgentServer
from tests.api.hostile import ok_json
from tests.socket_events import Events

# The generic Socket.IO layer sends the names it is given; the client SDK emits the
# client's events. Every other `.emit(...)` under eliza/ is the server speaking ElizaOS.
NOT_SERVER_EVENTS = {ROOT / "eliza" / "realtime" / "socketio.py", *(ROOT / "eliza" / "client")
                     .rglob("*.py")}


@pytest.fixture
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    """The app with an API key set, and the document it serves without the key."""
    settings = make_settings(tmp_path_factory.mktemp("asyncapi"),
                             ELIZA_SERVER_AUTH_TOKEN="secret")
    async with open_app(settings) as app:
        client = app.test_client()
        assert (await client.get("/api/agents")).status_code == 401
        document = await ok_json(await client.get("/api/asyncapi.json"))
        yield app, document


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        assert isinstance(node, dict), f"{ref} does not resolve"
        assert part in node, f"{ref} does not resolve"
        node = node[part]
    if isinstance(node, dict) and "$ref" in node:  # a channel's message refers to a component
        return resolve(document, node["$ref"])
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def event_names(document: dict[str, Any], action: str) -> dict[str, dict[str, Any]]:
    """Event name -> its operation, for the operations of `action`."""
    found = {}
    for operation in document["operations"].values():
        if operation["action"] == action:
            (message_ref,) = operation["messages"]
            found[resolve(document, message_ref["$ref"])["name"]] = operation
    return found


async def test_the_document_is_public_and_well_formed(served: Any) -> None:
    _, document = served
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"]
    assert document["info"]["version"]
    for ref in refs(document):
        resolve(document, ref)
    assert document["operations"]
    for key, operation in document["operations"].items():
        assert operation["action"] in ("send", "receive"), key
        channel_ref = operation["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/")
        # AsyncAPI 3.0: an operation's messages are messages of its channel.
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), (key, message)
        reply = operation.get("reply")
        if reply is not None:
            for message in reply["messages"]:
                assert message["$ref"].startswith(reply["channel"]["$ref"] + "/messages/")
    payloads = [m["payload"] for m in document["components"]["messages"].values()
                if "payload" in m]
    assert len(payloads) >= 20
    for payload in payloads:
        jsonschema.Draft202012Validator.check_schema(payload)
        jsonschema.Draft7Validator.check_schema(payload)  # AsyncAPI's own schema format


@pytest.mark.node
async def test_the_document_passes_the_official_asyncapi_schema(served: Any) -> None:
    _, document = served
    official = run_node("asyncapi_schema.mjs")
    assert official["properties"]["asyncapi"]["const"] == "3.0.0"
    validator = jsonschema.Draft7Validator(official)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, errors[:10]
    # ... and the schema does catch a broken one (AsyncAPI 2's verbs are gone in 3.0).
    broken = json.loads(json.dumps(document))
    next(iter(broken["operations"].values()))["action"] = "publish"
    assert not validator.is_valid(broken)


async def test_every_handled_event_is_described(served: Any) -> None:
    app, document = served
    server: AgentServer = app.app.config["ELIZA_SERVER"]
    handled = server.realtime.sio.handled_events
    assert {"message", "1", "2", "subscribe_logs", "update_log_filters"} <= handled
    assert set(event_names(document, "receive")) == handled


def is_emit(call: ast.Call) -> bool:
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == "emit") or (
        isinstance(func, ast.Name) and func.id == "emit")


def emitted_events() -> set[str]:
    """Every event name the server's code emits: `<x>.emit("name", ...)`, or `emit("name",
    ...)` through a local `emit = <x>.emit`. A name that is not a string literal, or `.emit`
    kept under another name, fails: it could not be checked against the document."""
    names: set[str] = set()
    for path in sorted((ROOT / "eliza").rglob("*.py")):
        if path in NOT_SERVER_EVENTS:
            continue
        tree = ast.parse(path.read_text(), str(path))
        seen: set[int] = set()  # the `.emit` attributes that are called or kept as `emit`
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and is_emit(node):
                seen.add(id(node.func))
                first = node.args[0] if node.args else None
                assert isinstance(first, ast.Constant), f"{path}:{node.lineno}: not a literal"
                assert isinstance(first.value, str), f"{path}:{node.lineno}: not a name"
                names.add(first.value)
            elif (isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute)
                  and node.value.attr == "emit"):
                assert [getattr(t, "id", None) for t in node.targets] == ["emit"], (
                    f"{path}:{node.lineno}: .emit kept under another name")
                seen.add(id(node.value))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "emit":
                assert id(node) in seen, f"{path}:{node.lineno}: .emit passed on"
    return names


async def test_every_emitted_event_is_described(served: Any) -> None:
    _, document = served
    emitted = emitted_events()
    assert {"messageBroadcast", "messageComplete", "log_stream", "channelDeleted"} <= emitted
    sent = event_names(document, "send")
    never_sent = {name for name, operation in sent.items()
                  if operation.get("x-eliza-sent") is False}
    assert never_sent == {"controlMessage"}
    # connect_error is the CONNECT_ERROR packet, not an emitted event.
    assert set(sent) - never_sent == emitted | {"connect_error"}


# -- what a real client receives matches the document -----------------------------------------

class Documented:
    """The served document's payload schemas, by event name."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.sent: dict[str, dict[str, Any]] = {}
        self.acks: dict[str, dict[str, Any]] = {}
        for operation in document["operations"].values():
            message = resolve(document, operation["messages"][0]["$ref"])
            if operation["action"] == "send":
                self.sent[message["name"]] = message["payload"]
            else:
                reply = resolve(document, operation["reply"]["messages"][0]["$ref"])
                self.acks[message["name"]] = reply.get("payload", {})

    def check(self, schema: dict[str, Any], value: Any, what: str) -> None:
        errors = [e.message for e in jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.FormatChecker()).iter_errors(value)]
        assert not errors, (what, value, errors)


def test_a_clients_events_and_acks_match_the_document(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        documented = Documented(http.get("/api/asyncapi.json").json())
        user = str(uuid.uuid4())
        channel_id = http.post("/api/messaging/channels", json={
            "name": "documented", "message_server_id": DEFAULT_SERVER_ID, "type": "GROUP",
            "participantCentralUserIds": [user]}).json()["data"]["id"]
        sio = socketio.Client(reconnection=False)
        events = Events(sio)
        sio.connect(live_server.url, auth={"entityId": user}, wait_timeout=10)
        try:
            acks = {
                "message": sio.call("message", {"type": 1, "payload": {
                    "channelId": channel_id}}, timeout=10),
                "2": sio.call("2", {"channelId": channel_id, "senderId": user,
                                    "message": "hello", "messageId": "client-1"}, timeout=10),
                "1": sio.call("1", {}, timeout=10),  # no channel: a failure ack
            }
            sio.emit("subscribe_logs")
            sio.emit("update_log_filters", {"level": "info"})
            events.wait("log_filters_updated")
            message_id = events.wait("messageAck")["messageId"]
            assert http.delete(f"/api/messaging/channels/{channel_id}/messages/"
                               f"{message_id}").status_code == 204
            assert http.patch(f"/api/messaging/channels/{channel_id}",
                              json={"name": "renamed"}).status_code == 200
            assert http.delete(f"/api/messaging/channels/{channel_id}").status_code == 204
            events.wait("channelDeleted")
        finally:
            sio.disconnect()
    for name, ack in acks.items():
        documented.check(documented.acks[name], ack, f"the ack of {name}")
    seen = {name for name, _ in events.seen}
    assert {"authenticated", "connection_established", "channel_joined", "room_joined",
            "messageBroadcast", "messageAck", "messageError", "log_subscription_confirmed",
            "log_filters_updated", "messageDeleted", "channelUpdated",
            "channelDeleted"} <= seen
    for name, payload in events.seen:
        assert name in documented.sent, f"{name} is not in the document"
        documented.check(documented.sent[name], payload, name)


def test_a_refused_connection_matches_the_document(live_server: LiveServer) -> None:
    documented = Documented(httpx.get(f"{live_server.url}/api/asyncapi.json").json())
    sio = socketio.Client(reconnection=False)
    refusals: list[Any] = []
    sio.on("connect_error", refusals.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(live_server.url, auth={"entityId": "not-a-uuid"}, wait_timeout=10)
    assert refusals == [{"message": "Valid entityId required"}]
    documented.check(documented.sent["connect_error"], refusals[0], "connect_error")
