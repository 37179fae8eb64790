"""Session sends with each transport, and paging through a session's messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import trio

from conftest import make_settings, open_app
from eliza import ModelType, hookimpl
from eliza.plugins import make_plugin_manager
from eliza.runtime.doctor import Doctor
from eliza.runtime.models import ModelProvider
from eliza.server import AgentServer
from tests.sessions.conftest import USER_ID, create_session, parse_sse

BASE = "/api/messaging/sessions"


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


async def test_http_transport_returns_the_real_reply(client: Any) -> None:
    created = await create_session(client)
    sid = created["sessionId"]
    response = await client.post(f"{BASE}/{sid}/messages",
                                 json={"content": "I need some help", "transport": "http"})
    assert response.status_code == 201
    body = await response.get_json()
    reply = body["agentResponse"]
    # A fresh session is a fresh room, so the DOCTOR script answers as a fresh Doctor does.
    assert reply["text"] == Doctor().respond("I need some help")
    assert reply["actions"] == ["REPLY"]
    assert reply["inReplyTo"] == body["userMessage"]["id"]
    assert body["data"]["agentResponse"] == reply
    listed = await (await client.get(f"{BASE}/{sid}/messages")).get_json()
    newest, oldest = listed["messages"]
    assert newest["id"] == reply["id"]
    assert newest["isAgent"] is True
    assert newest["content"] == reply["text"]
    assert newest["metadata"]["actions"] == ["REPLY"]
    assert oldest["isAgent"] is False
    assert oldest["authorId"] == USER_ID
    # legacy mode "sync" is the http transport
    again = await client.post(f"{BASE}/{sid}/messages",
                              json={"content": "I am sad", "mode": "sync"})
    assert (await again.get_json())["agentResponse"]["text"]


async def test_sse_transport_streams_until_done(client: Any) -> None:
    created = await create_session(client)
    response = await client.post(f"{BASE}/{created['sessionId']}/messages",
                                 json={"content": "I need some help", "transport": "sse"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = parse_sse(await response.get_data(as_text=True))
    assert [name for name, _ in events] == ["user_message", "chunk", "done"]
    user, chunk, done = (data for _, data in events)
    assert user["content"] == "I need some help"
    assert user["sessionStatus"]["renewalCount"] == 1
    expected = Doctor().respond("I need some help")
    # the ELIZA model does not stream: its whole reply is one chunk
    assert chunk == {"messageId": done["id"], "chunk": expected, "index": 0}
    assert done["text"] == expected
    assert done["inReplyTo"] == user["id"]


class Streamer:
    """A model plugin that streams its reply in three chunks (`pause` seconds apart)."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.first_chunk = trio.Event()

    async def reply(self, runtime: Any, params: dict[str, Any]) -> AsyncIterator[str]:
        async def chunks() -> AsyncIterator[str]:
            for part in ("Hello", ", ", "stream"):
                yield part
                self.first_chunk.set()
                await trio.sleep(self.pause)

        return chunks()

    @hookimpl
    def register_models(self, server: AgentServer) -> list[ModelProvider]:
        return [ModelProvider(ModelType.TEXT_LARGE, self.reply, 100)]


@pytest.fixture
def streamer() -> Streamer:
    return Streamer()


@pytest.fixture
async def streaming_client(
    tmp_path: Path, streamer: Streamer
) -> AsyncIterator[tuple[Any, str]]:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    plugin = streamer
    pm = make_plugin_manager(allow=[], extra=[("streamer", plugin)])
    server = AgentServer(settings, pm)
    async with open_app(settings, server) as test_app:
        record, _ = await server.agents.create({"name": "Streamy", "bio": "streams",
                                                "plugins": ["streamer"]})
        await server.agents.start(record.id)
        yield test_app.test_client(), record.id
    pm.unregister(plugin)


async def test_sse_relays_model_chunks(streaming_client: tuple[Any, str]) -> None:
    client, agent_id = streaming_client
    created = await create_session(client, agentId=agent_id)
    response = await client.post(f"{BASE}/{created['sessionId']}/messages",
                                 json={"content": "hi", "transport": "sse"})
    events = parse_sse(await response.get_data(as_text=True))
    assert [name for name, _ in events] == ["user_message", "chunk", "chunk", "chunk", "done"]
    chunks = [data for name, data in events if name == "chunk"]
    assert [c["chunk"] for c in chunks] == ["Hello", ", ", "stream"]
    assert [c["index"] for c in chunks] == [0, 1, 2]
    done = events[-1][1]
    assert {c["messageId"] for c in chunks} == {done["id"]}
    assert done["text"] == "Hello, stream"


@pytest.mark.parametrize("streamer", [Streamer(pause=0.3)])
async def test_overlapping_sse_sends_keep_their_own_chunks(
    streaming_client: tuple[Any, str], streamer: Streamer
) -> None:
    """A second send while the first reply is still streaming: each stream carries only the
    chunks of the reply to its own message (chunks name the message they answer)."""
    client, agent_id = streaming_client
    sid = (await create_session(client, agentId=agent_id))["sessionId"]
    streams: dict[str, list[tuple[str, Any]]] = {}

    async def send(content: str) -> None:
        response = await client.post(f"{BASE}/{sid}/messages",
                                     json={"content": content, "transport": "sse"})
        streams[content] = parse_sse(await response.get_data(as_text=True))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send, "first")
        await streamer.first_chunk.wait()  # the first reply is streaming now
        nursery.start_soon(send, "second")
    for content, events in streams.items():
        assert [name for name, _ in events] == ["user_message", "chunk", "chunk", "chunk",
                                                "done"], content
        done = events[-1][1]
        assert done["inReplyTo"] == events[0][1]["id"]
        chunks = [data for name, data in events if name == "chunk"]
        assert {c["messageId"] for c in chunks} == {done["id"]}, content
        assert "".join(c["chunk"] for c in chunks) == done["text"] == "Hello, stream"


async def test_paging_modes(client: Any) -> None:
    created = await create_session(client)
    sid = created["sessionId"]
    for text in ("one", "two", "three", "four"):
        response = await client.post(f"{BASE}/{sid}/messages",
                                     json={"content": f"I feel {text}", "transport": "http"})
        assert (await response.get_json())["agentResponse"] is not None
    full = (await (await client.get(f"{BASE}/{sid}/messages?limit=100")).get_json())
    everything = full["messages"]
    assert len(everything) == 8
    assert full["hasMore"] is False
    stamps = [ms(m["createdAt"]) for m in everything]
    assert stamps == sorted(stamps, reverse=True)  # newest first

    page = await (await client.get(f"{BASE}/{sid}/messages?limit=3")).get_json()
    assert [m["id"] for m in page["messages"]] == [m["id"] for m in everything[:3]]
    assert page["hasMore"] is True
    assert page["cursors"] == {"before": stamps[2], "after": stamps[0]}

    before = stamps[2]
    older = await (await client.get(f"{BASE}/{sid}/messages?limit=3&before={before}")
                   ).get_json()
    assert [m["id"] for m in older["messages"]] == [
        m["id"] for m, t in zip(everything, stamps, strict=True) if t < before][:3]

    after = stamps[-2]
    newer = await (await client.get(f"{BASE}/{sid}/messages?limit=2&after={after}")
                   ).get_json()
    expected = [m["id"] for m, t in zip(everything, stamps, strict=True) if t > after]
    assert [m["id"] for m in newer["messages"]] == expected[-2:]  # the oldest two, newest first

    both = await (await client.get(
        f"{BASE}/{sid}/messages?limit=10&before={stamps[0]}&after={stamps[-1]}")).get_json()
    assert [m["id"] for m in both["messages"]] == [
        m["id"] for m, t in zip(everything, stamps, strict=True) if stamps[-1] < t < stamps[0]]

    clamped = await (await client.get(f"{BASE}/{sid}/messages?limit=0")).get_json()
    assert len(clamped["messages"]) == 1
    for query in ("before=abc", "after=yesterday", "limit=many"):
        bad = await client.get(f"{BASE}/{sid}/messages?{query}")
        assert bad.status_code == 400
        error = (await bad.get_json())["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert "Invalid pagination parameter" in error["message"]
    missing = await client.get(f"{BASE}/11111111-2222-4333-8444-555555555555/messages")
    assert missing.status_code == 404
