"""The attachment URL rewrite end to end, against a real `hypercorn -k trio` process:
attachments that are absolute paths of stored media (data dir's generated/, uploads/agents/,
uploads/channels/ as `<id>/<file>`) reach every client as the `/media/...` URL that serves
the very same bytes: in the REST answers (post, channel list, single message, patch), in the
socket `messageBroadcast` (to the sender and to the other sockets in the room), in session
messages and in the agent's memory of the message. External URLs and paths outside the media
directories (or escaping them with `..`) are passed through unchanged."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import socketio

from conftest import STORES, LiveServer
from eliza import ids
from tests.backends import shared_store
from tests.polling import wait_until_sync

from ..socket_events import Events
from .helpers import BOUNDARY, SAMPLES, file_body

ELIZA_ID = ids.string_to_uuid("Eliza")
SERVER_ID = ids.DEFAULT_SERVER_ID
PNG = SAMPLES["image/png"][0]
PDF = SAMPLES["application/pdf"][0]
MP3 = SAMPLES["audio/mpeg"][0]
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


@pytest.fixture(scope="module", params=STORES)
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[LiveServer]:
    """One live server for the module on each store; every test uses its own users and
    channels."""
    with shared_store(request.param) as env:
        server = LiveServer(Path(tmp_path_factory.mktemp("attachments")) / ".eliza", env)
        server.start()
        yield server
        server.stop()


@pytest.fixture
def http(srv: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=20) as client:
        yield client


# -- helpers ---------------------------------------------------------------------------------


def media_root(srv: LiveServer, kind: str) -> Path:
    """The server's own directory for `kind` (generated, uploads/agents, uploads/channels),
    as eliza/settings.py places it under ELIZA_DATA_DIR."""
    return srv.data_dir / "data" / kind


def new_user() -> str:
    return str(uuid.uuid4())


def create_channel(http: httpx.Client, participants: list[str], type_: str = "GROUP") -> str:
    body: dict[str, Any] = {"name": "attachments", "message_server_id": SERVER_ID,
                            "participantCentralUserIds": participants, "type": type_}
    if type_ == "DM":
        body["metadata"] = {"isDm": True, "forAgent": ELIZA_ID}
    response = http.post("/api/messaging/channels", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def upload(srv: LiveServer, http: httpx.Client, channel: str, content: bytes = PNG,
           mime: str = "image/png", name: str = "cat.png",
           route: str = "/api/messaging/channels/{}/upload-media") -> tuple[str, Path]:
    """Upload through the channel route; return the URL it answered and the absolute path of
    the stored file (data dir + `uploads/channels/<channel>/<filename it returned>`)."""
    response = http.post(route.format(channel), content=file_body(content, mime, name),
                         headers={"Content-Type": MULTIPART})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    path = media_root(srv, "uploads/channels") / channel / data["filename"]
    assert path.is_absolute()
    assert path.read_bytes() == content  # really stored there
    assert data["url"] == f"/media/uploads/channels/{channel}/{data['filename']}"
    return str(data["url"]), path


def post_message(http: httpx.Client, channel: str, author: str, text: str,
                 route: str = "central-channels", **extra: Any) -> dict[str, Any]:
    response = http.post(f"/api/messaging/{route}/{channel}/messages", json={
        "author_id": author, "content": text, "message_server_id": SERVER_ID, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def listed(http: httpx.Client, channel: str, message_id: str) -> dict[str, Any]:
    response = http.get(f"/api/messaging/central-channels/{channel}/messages?limit=100")
    assert response.status_code == 200, response.text
    found = [m for m in response.json()["data"]["messages"] if m["id"] == message_id]
    assert len(found) == 1, response.json()
    return dict(found[0])


def single(http: httpx.Client, message_id: str) -> dict[str, Any]:
    response = http.get(f"/api/messaging/messages/{message_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def fetch(http: httpx.Client, url: str) -> bytes:
    assert url.startswith("/media/"), url
    response = http.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text[:200])
    return response.content


def no_path(value: Any, *paths: Path | str) -> None:
    """Nothing of `value` (any JSON) mentions one of the server paths."""
    text = json.dumps(value)
    for path in paths:
        assert str(path) not in text, f"server path {path} leaked: {text}"




def joined_socket(srv: LiveServer, user: str, channel: str) -> tuple[socketio.Client, Events]:
    client = socketio.Client(reconnection=False)
    events = Events(client)
    client.connect(srv.url, auth={"entityId": user}, wait_timeout=10)
    joined = client.call("message", {"type": 1, "payload": {"channelId": channel,
                                                           "entityId": user}}, timeout=10)
    assert joined["success"] is True, joined
    return client, events


def close(client: socketio.Client) -> None:
    client.disconnect()
    client.eio.disconnect()


# -- 1. REST: every accepted shape -----------------------------------------------------------

SHAPES: dict[str, Callable[[str], Any]] = {
    "string": lambda p: p,
    "object": lambda p: {"url": p, "name": "cat.png", "type": "image", "id": "a1"},
    "list": lambda p: [p, {"url": p, "title": "same file", "contentType": "image/png"}],
}


@pytest.mark.parametrize("route", ["central-channels", "channels"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_posted_path_becomes_url_in_every_shape(srv: LiveServer, http: httpx.Client,
                                                shape: str, route: str) -> None:
    user = new_user()
    channel = create_channel(http, [user])
    url, path = upload(srv, http, channel)
    sent = SHAPES[shape](str(path))
    expected = SHAPES[shape](url)
    posted = post_message(http, channel, user, f"{shape} attachment", route=route,
                          metadata={"attachments": sent, "note": "kept"},
                          raw_message={"text": f"{shape} attachment", "attachments": sent})

    for message in (posted, listed(http, channel, posted["id"]), single(http, posted["id"])):
        assert message["metadata"]["attachments"] == expected, message
        assert message["metadata"]["note"] == "kept"
        assert message["rawMessage"]["attachments"] == expected, message
        no_path(message, path, media_root(srv, "uploads"))

    assert fetch(http, url) == PNG  # the URL serves the uploaded bytes, byte for byte


def test_path_only_in_raw_message_is_listed_as_url(srv: LiveServer, http: httpx.Client) -> None:
    """The list route surfaces raw_message.attachments in metadata: also as the URL."""
    user = new_user()
    channel = create_channel(http, [user])
    url, path = upload(srv, http, channel, PDF, "application/pdf", "doc.pdf",
                       route="/api/messaging/central-channels/{}/upload-media")
    posted = post_message(http, channel, user, "raw only",
                          raw_message={"text": "raw only", "attachments": [{"url": str(path)}]})
    for message in (posted, listed(http, channel, posted["id"]), single(http, posted["id"])):
        assert message["metadata"]["attachments"] == [{"url": url}], message
        assert message["rawMessage"]["attachments"] == [{"url": url}], message
        no_path(message, path)
    assert fetch(http, url) == PDF


def test_special_characters_are_url_encoded_and_served(srv: LiveServer,
                                                       http: httpx.Client) -> None:
    """A stored agent upload whose name has spaces and parentheses: the segments are
    URL-encoded, and the encoded URL serves that file."""
    user, agent = new_user(), new_user()
    channel = create_channel(http, [user])
    stored = media_root(srv, "uploads/agents") / agent / "my photo (1).png"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(PNG)
    url = f"/media/uploads/agents/{agent}/my%20photo%20%281%29.png"
    posted = post_message(http, channel, user, "encoded",
                          metadata={"attachments": [str(stored)]})
    assert posted["metadata"]["attachments"] == [url]
    assert single(http, posted["id"])["metadata"]["attachments"] == [url]
    assert url == f"/media/uploads/agents/{quote(agent)}/{quote(stored.name, safe='')}"
    assert fetch(http, url) == PNG


def test_generated_media_of_an_agent_reply(srv: LiveServer, http: httpx.Client) -> None:
    """An agent's reply (POST /api/messaging/submit) carrying a generated file's path: the
    reply, its broadcast and the REST reads give `/media/generated/<agent>/<file>`."""
    user = new_user()
    channel = create_channel(http, [user])
    stored = media_root(srv, "generated") / ELIZA_ID / "speech-1.mp3"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(MP3)
    url = f"/media/generated/{ELIZA_ID}/speech-1.mp3"
    client, events = joined_socket(srv, user, channel)
    try:
        response = http.post("/api/messaging/submit", json={
            "channel_id": channel, "server_id": SERVER_ID, "author_id": ELIZA_ID,
            "content": "here is your audio", "source_type": "agent_response",
            "raw_message": {"text": "here is your audio", "thought": "t", "actions": ["REPLY"]},
            "metadata": {"agentName": "Eliza", "attachments": [
                {"id": "g1", "url": str(stored), "type": "audio", "name": "speech"}]}})
        assert response.status_code == 201, response.text
        reply = response.json()["data"]
        expected = [{"id": "g1", "url": url, "type": "audio", "name": "speech"}]
        assert reply["metadata"]["attachments"] == expected
        broadcast = events.wait("messageBroadcast", lambda d: d["id"] == reply["id"])
        assert broadcast["attachments"] == expected
        no_path(broadcast, stored)
    finally:
        close(client)
    assert listed(http, channel, reply["id"])["metadata"]["attachments"] == expected
    assert fetch(http, url) == MP3


# -- 2. socket SEND_MESSAGE ------------------------------------------------------------------


def test_socket_send_with_path_broadcasts_url(srv: LiveServer, http: httpx.Client) -> None:
    sender, listener = new_user(), new_user()
    channel = create_channel(http, [sender, listener])
    url, path = upload(srv, http, channel)
    pdf_url, pdf_path = upload(srv, http, channel, PDF, "application/pdf", "doc.pdf")
    sending, sender_events = joined_socket(srv, sender, channel)
    try:
        listening, listener_events = joined_socket(srv, listener, channel)
        try:
            client_id = str(uuid.uuid4())
            ack = sending.call("message", {"type": 2, "payload": {
                "senderId": sender, "senderName": "py", "message": "look at these",
                "channelId": channel, "messageServerId": SERVER_ID, "messageId": client_id,
                "source": "client_chat", "metadata": {},
                "attachments": [str(path), {"url": str(pdf_path), "name": "doc.pdf",
                                            "type": "document"}]}}, timeout=10)
            assert ack["success"] is True, ack
            expected = [url, {"url": pdf_url, "name": "doc.pdf", "type": "document"}]

            seen = listener_events.wait("messageBroadcast",
                                        lambda d: d["id"] == ack["messageId"])
            echo = sender_events.wait("messageBroadcast",
                                      lambda d: d.get("clientMessageId") == client_id)
            for broadcast in (seen, echo):
                assert broadcast["attachments"] == expected, broadcast
                assert broadcast["metadata"]["attachments"] == expected, broadcast
                assert broadcast["channelId"] == channel
                no_path(broadcast, path, pdf_path)
        finally:
            close(listening)
    finally:
        close(sending)

    stored = single(http, ack["messageId"])
    assert stored["metadata"]["attachments"] == expected
    assert stored["rawMessage"]["attachments"] == expected
    no_path(stored, path, pdf_path)
    assert fetch(http, url) == PNG
    assert fetch(http, pdf_url) == PDF


# -- 3. what must stay as it is --------------------------------------------------------------


def kept_values(srv: LiveServer, channel: str) -> list[Any]:
    channels = media_root(srv, "uploads/channels")
    sibling = srv.data_dir / "data" / "uploads" / "channels-evil" / channel / "x.png"
    sibling.parent.mkdir(parents=True, exist_ok=True)
    sibling.write_bytes(PNG)
    return [
        "https://example.com/cat.png",
        "http://example.com/a%20b.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "blob:https://example.com/1234",
        {"url": "https://cdn.example.com/x.png", "name": "remote"},
        "/etc/passwd",
        {"url": "/etc/passwd", "name": "passwd"},
        "/media/uploads/channels/not/rewritten.png",
        f"/media/uploads/channels/{channel}/already.png",
        str(srv.data_dir / "eliza.db"),  # the server's database: in the data dir, no media
        str(channels / channel / ".." / ".." / ".." / ".." / "eliza.db"),
        str(channels / channel / ".." / ".." / ".." / ".." / ".." / ".." / ".." / ".." /
            "etc" / "passwd"),
        str(channels / ".." / ".." / ".." / ".env"),
        str(channels / "loose.png"),  # not <id>/<file>
        str(channels / channel / "deeper" / "x.png"),
        str(sibling),  # a sibling whose name starts like the uploads dir
        "relative/uploads/channels/x/y.png",
    ]


def test_external_urls_and_other_paths_pass_unchanged(srv: LiveServer,
                                                      http: httpx.Client) -> None:
    user, listener = new_user(), new_user()
    channel = create_channel(http, [user, listener])
    kept = kept_values(srv, channel)
    listening, events = joined_socket(srv, listener, channel)
    try:
        posted = post_message(http, channel, user, "keep", metadata={"attachments": kept})
        broadcast = events.wait("messageBroadcast", lambda d: d["id"] == posted["id"])
    finally:
        close(listening)
    for message in (posted, listed(http, channel, posted["id"]), single(http, posted["id"])):
        assert message["metadata"]["attachments"] == kept, message
    assert broadcast["attachments"] == kept
    # And one at a time, in the string and object shapes.
    for value in kept:
        if not isinstance(value, str):
            continue
        one = post_message(http, channel, user, "one", metadata={"attachments": value})
        assert single(http, one["id"])["metadata"]["attachments"] == value
        obj = post_message(http, channel, user, "obj",
                           metadata={"attachments": {"url": value, "name": "n"}})
        assert single(http, obj["id"])["metadata"]["attachments"] == {"url": value, "name": "n"}


def test_dot_dot_escape_from_the_upload_dir_is_not_rewritten(srv: LiveServer,
                                                             http: httpx.Client) -> None:
    """`<uploads/channels>/<id>/../../../../<x>` leaves the media dirs: kept as sent, never a
    /media URL; a real file placed there is not served by any /media route either."""
    user = new_user()
    channel = create_channel(http, [user])
    url, path = upload(srv, http, channel)
    secret = srv.data_dir / "secret.png"
    secret.write_bytes(PNG)
    escaping = str(path.parent / ".." / ".." / ".." / ".." / "secret.png")
    assert Path(escaping).resolve() == secret.resolve()
    posted = post_message(http, channel, user, "escape", metadata={"attachments": [
        escaping, {"url": escaping}, str(path)]})
    stored = single(http, posted["id"])["metadata"]["attachments"]
    assert stored == [escaping, {"url": escaping}, url]
    assert not stored[0].startswith("/media/")
    assert not stored[1]["url"].startswith("/media/")
    for guess in (f"/media/uploads/channels/{channel}/secret.png",
                  f"/media/uploads/channels/{channel}/..%2F..%2F..%2F..%2Fsecret.png"):
        assert http.get(guess).status_code in (400, 403, 404), guess


# -- 4. PATCH --------------------------------------------------------------------------------


def test_patch_with_path_stores_url(srv: LiveServer, http: httpx.Client) -> None:
    user = new_user()
    channel = create_channel(http, [user])
    url, path = upload(srv, http, channel)
    posted = post_message(http, channel, user, "to be edited")
    assert "attachments" not in posted["metadata"]

    patched = http.patch(f"/api/messaging/messages/{posted['id']}", json={
        "content": "edited", "metadata": {"attachments": [{"url": str(path), "name": "cat"}]}})
    assert patched.status_code == 200, patched.text
    expected = [{"url": url, "name": "cat"}]
    for message in (patched.json()["data"], single(http, posted["id"]),
                    listed(http, channel, posted["id"])):
        assert message["content"] == "edited"
        assert message["metadata"]["attachments"] == expected, message
        no_path(message, path)

    # The string shape, patched again.
    again = http.patch(f"/api/messaging/messages/{posted['id']}",
                       json={"metadata": {"attachments": str(path)}})
    assert again.status_code == 200, again.text
    assert again.json()["data"]["metadata"]["attachments"] == url
    assert single(http, posted["id"])["metadata"]["attachments"] == url
    assert fetch(http, url) == PNG


def test_patch_action_raw_message_path_stores_url(srv: LiveServer, http: httpx.Client) -> None:
    """PATCH /api/messaging/action/<id> patches raw_message and metadata: both rewritten."""
    user = new_user()
    channel = create_channel(http, [user])
    url, path = upload(srv, http, channel)
    created = http.post("/api/messaging/action", json={
        "channel_id": channel, "server_id": SERVER_ID, "author_id": ELIZA_ID,
        "content": "working on it", "raw_message": {"text": "working on it"}})
    assert created.status_code == 201, created.text
    message_id = created.json()["data"]["id"]
    patched = http.patch(f"/api/messaging/action/{message_id}", json={
        "content": "done", "raw_message": {"text": "done", "attachments": [str(path)]},
        "metadata": {"attachments": {"url": str(path)}}})
    assert patched.status_code == 200, patched.text
    for message in (patched.json()["data"], single(http, message_id)):
        assert message["rawMessage"]["attachments"] == [url], message
        assert message["metadata"]["attachments"] == {"url": url}, message
        no_path(message, path)


# -- 5. the agent's memory -------------------------------------------------------------------


def memory_of(http: httpx.Client, channel: str, message_id: str) -> Any:
    def find() -> Any:
        response = http.get(f"/api/memory/{ELIZA_ID}/memories?channelId={channel}")
        assert response.status_code == 200, response.text
        return next((m for m in response.json()["data"]["memories"]
                     if m["metadata"].get("sourceId") == message_id), None)

    return wait_until_sync(find, within=20, interval=0.1,
                           message=f"Eliza's memory of {message_id}")


def wait_reply(http: httpx.Client, channel: str, count: int) -> None:
    def replied() -> bool:
        response = http.get(f"/api/messaging/central-channels/{channel}/messages?limit=100")
        authors = [m["authorId"] for m in response.json()["data"]["messages"]]
        return authors.count(ELIZA_ID) >= count

    wait_until_sync(replied, within=20, interval=0.1, message=f"{count} replies of Eliza")


def test_agent_memory_holds_url_not_path(srv: LiveServer, http: httpx.Client) -> None:
    user = new_user()
    channel = create_channel(http, [user, ELIZA_ID], type_="DM")
    url, path = upload(srv, http, channel)
    posted = post_message(http, channel, user, "Men are all alike.", metadata={
        "isDm": True, "attachments": [
            {"id": "att-1", "url": str(path), "name": "cat.png", "type": "image"}]})
    memory = memory_of(http, channel, posted["id"])
    assert memory["content"]["attachments"] == [
        {"id": "att-1", "url": url, "title": "cat.png", "contentType": "image"}]
    assert memory["metadata"]["attachments"][0]["url"] == url
    no_path(memory, path)
    wait_reply(http, channel, 1)
    assert fetch(http, memory["content"]["attachments"][0]["url"]) == PNG


def test_agent_memory_of_socket_message_holds_url(srv: LiveServer, http: httpx.Client) -> None:
    user = new_user()
    channel = create_channel(http, [user, ELIZA_ID], type_="DM")
    url, path = upload(srv, http, channel, PDF, "application/pdf", "doc.pdf")
    client, events = joined_socket(srv, user, channel)
    try:
        ack = client.call("message", {"type": 2, "payload": {
            "senderId": user, "senderName": "py", "message": "Men are all alike.",
            "channelId": channel, "messageServerId": SERVER_ID,
            "messageId": str(uuid.uuid4()), "source": "client_chat",
            "metadata": {"isDm": True},
            "attachments": [{"id": "d1", "url": str(path), "name": "doc.pdf",
                             "type": "document"}]}}, timeout=10)
        assert ack["success"] is True, ack
        memory = memory_of(http, channel, ack["messageId"])
        assert memory["content"]["attachments"] == [
            {"id": "d1", "url": url, "title": "doc.pdf", "contentType": "document"}]
        no_path(memory, path)
        events.wait("messageBroadcast", lambda d: d["senderId"] == ELIZA_ID)
    finally:
        close(client)
    assert fetch(http, url) == PDF


# -- sessions (the same transform on the sessions route) -------------------------------------


def test_session_message_attachment_path_becomes_url(srv: LiveServer,
                                                     http: httpx.Client) -> None:
    user = new_user()
    created = http.post("/api/messaging/sessions", json={"agentId": ELIZA_ID, "userId": user})
    assert created.status_code == 201, created.text
    session = created.json()
    sid = session["sessionId"]
    channel = session["channelId"]
    url, path = upload(srv, http, channel)
    sent = http.post(f"/api/messaging/sessions/{sid}/messages", json={
        "content": "Men are all alike.",
        "attachments": [{"type": "image", "url": str(path), "name": "cat.png"}]})
    assert sent.status_code == 201, sent.text
    expected = [{"type": "image", "url": url, "name": "cat.png"}]
    assert sent.json()["metadata"]["attachments"] == expected
    no_path(sent.json(), path)
    listing = http.get(f"/api/messaging/sessions/{sid}/messages")
    assert listing.status_code == 200, listing.text
    mine = [m for m in listing.json()["messages"] if m["id"] == sent.json()["id"]]
    assert len(mine) == 1
    assert mine[0]["metadata"]["attachments"] == expected
    no_path(listing.json(), path)
    stored = single(http, sent.json()["id"])
    assert stored["rawMessage"]["attachments"] == expected
    memory = memory_of(http, channel, sent.json()["id"])
    assert memory["content"]["attachments"][0]["url"] == url
    no_path(memory, path)
    assert fetch(http, url) == PNG
