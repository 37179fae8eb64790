"""Semantic search end to end: a real hypercorn server, a real agent with the `minilm`
plugin (all-MiniLM-L6-v2, 384 dimensions), conversations through the REST API, and the
search routes answering as a user sees them; on SQLite (sqlite-vec), then on PostgreSQL
with pgvector.

One server and one embedding agent serve the whole module per store (the model loads on
the first embedding). Each test that changes memories uses its own DM channel, so the tests do
not depend on one another's order. Every wait is a poll with a deadline.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from tests.polling import wait_until_sync
from tests.search.pgvector_server import PgvectorServer

pytestmark = pytest.mark.slow  # loads all-MiniLM-L6-v2 with torch

DEFAULT_SERVER = "00000000-0000-0000-0000-000000000000"
DIMENSIONS = 384
SEARCH_MESSAGES = "/api/messaging/messages/search"
# Topics far apart in meaning; the built-in ELIZA answers each with a generic phrase, so
# the user's message is the only memory of its topic.
FOOD = "Pizza with extra cheese is the best dinner ever"
TRAIN = "The train to Berlin leaves at nine tomorrow"
BICYCLE = "Repairing a bicycle chain takes patience"
TOPICS = [FOOD, TRAIN, BICYCLE]
FIRST_EMBEDDING_WITHIN = 90.0  # the first embedding loads the model (~10 s here)
EMBEDDING_WITHIN = 30.0


# -- helpers --------------------------------------------------------------------------------


def data_of(response: httpx.Response, status: int = 200) -> Any:
    body = response.json()
    assert response.status_code == status, (response.request.url, response.status_code, body)
    assert body["success"] is True, body
    return body["data"]


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The `error` of a failed answer, after checking the contract envelope."""
    body = response.json()
    assert response.status_code == status, (response.request.url, response.status_code, body)
    assert body["success"] is False, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert isinstance(error["code"], str), body
    assert error["code"], body
    assert isinstance(error["message"], str), body
    assert error["message"], body
    return error


def create_agent(http: httpx.Client, name: str, plugins: list[str], start: bool = True) -> str:
    character = {"name": name, "bio": ["A test agent."], "plugins": plugins}
    agent_id = str(data_of(http.post("/api/agents", json={"characterJson": character}),
                           201)["id"])
    if start:
        data_of(http.post(f"/api/agents/{agent_id}/start", json={}))
    return agent_id


@dataclass
class Chat:
    """A DM between a fresh user and an agent: the user's messages (text -> central
    message) and the agent's memories of them (text -> memory id)."""

    http: httpx.Client
    agent_id: str
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    channel_id: str = ""
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory_ids: dict[str, str] = field(default_factory=dict)

    def open(self) -> Chat:
        channel = data_of(self.http.get("/api/messaging/dm-channel", params={
            "currentUserId": self.user_id, "targetUserId": self.agent_id}))
        self.channel_id = str(channel["id"])
        return self

    def say(self, *texts: str) -> None:
        """Post each text and wait for the agent's answer and the turn's two memories."""
        for text in texts:
            answer = data_of(self.http.post(
                f"/api/messaging/central-channels/{self.channel_id}/messages",
                json={"author_id": self.user_id, "content": text, "server_id": DEFAULT_SERVER,
                      "source_type": "client_chat"}), 201)
            self.messages[text] = answer
        want = 2 * len(self.messages)

        def remembered() -> list[dict[str, Any]] | None:
            mems = self.memories()
            return mems if len(mems) >= want else None

        mems = wait_until_sync(remembered, within=20, interval=0.1,
                               message=f"{want} memories in {self.channel_id}")
        by_source = {m["metadata"].get("sourceId"): m for m in mems}
        for text, message in self.messages.items():
            memory = by_source[message["id"]]
            assert memory["content"]["text"] == text
            assert memory["entityId"] != self.agent_id
            self.memory_ids[text] = str(memory["id"])

    def memories(self, include_embedding: bool = False) -> list[dict[str, Any]]:
        params = {"channelId": self.channel_id}
        if include_embedding:
            params["includeEmbedding"] = "true"
        found = data_of(self.http.get(f"/api/memory/{self.agent_id}/memories", params=params))
        return list(found["memories"])

    def wait_embedded(self, within: float = EMBEDDING_WITHIN) -> list[dict[str, Any]]:
        """Every memory of the chat with its vector."""
        def embedded() -> list[dict[str, Any]] | None:
            mems = self.memories(include_embedding=True)
            done = all(isinstance(m["embedding"], list) and len(m["embedding"]) == DIMENSIONS
                       for m in mems)
            return mems if mems and done else None

        return wait_until_sync(embedded, within=within, interval=0.1,
                               message=f"the memories of {self.channel_id} to be embedded")


def search_memories(http: httpx.Client, agent_id: str, body: dict[str, Any],
                    prefix: str = "/api/memory") -> tuple[list[dict[str, Any]], str]:
    data = data_of(http.post(f"{prefix}/{agent_id}/memories/search", json=body))
    return list(data["memories"]), str(data["mode"])


def search_messages(http: httpx.Client, body: dict[str, Any]
                    ) -> tuple[list[dict[str, Any]], str]:
    data = data_of(http.post(SEARCH_MESSAGES, json=body))
    return list(data["messages"]), str(data["mode"])


def ids_of(hits: list[dict[str, Any]]) -> list[str]:
    return [str(hit["id"]) for hit in hits]


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "pgvector"])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The server, on SQLite with sqlite-vec, then on PostgreSQL with pgvector."""
    env: dict[str, str] = {}
    schema = None
    if request.param == "pgvector":
        pgvector: PgvectorServer = request.getfixturevalue("pgvector_server")
        schema, env["POSTGRES_URL"] = pgvector.new_schema()
    live = LiveServer(Path(tmp_path_factory.mktemp("semantic")) / ".eliza", env)
    live.start()
    try:
        yield live
    finally:
        live.stop()
        if schema is not None:
            pgvector.drop_schema(schema)


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def agent(http: httpx.Client) -> str:
    """A running agent with TEXT_EMBEDDING (the minilm plugin)."""
    return create_agent(http, "Semantic", ["minilm"])


@pytest.fixture(scope="module")
def plain_agent(http: httpx.Client) -> str:
    """A running agent without an embedding model."""
    return create_agent(http, "Plain", [])


@pytest.fixture(scope="module")
def chat(http: httpx.Client, agent: str) -> Chat:
    """The agent's DM with a user who talked about unrelated topics, all embedded."""
    conversation = Chat(http, agent).open()
    conversation.say(*TOPICS)
    conversation.wait_embedded(FIRST_EMBEDDING_WITHIN)
    return conversation


# -- the relevant message first -------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/api/memory", "/api/agents"])
def test_semantic_search_finds_a_paraphrase_first(http: httpx.Client, chat: Chat,
                                                  prefix: str) -> None:
    # No word in common with FOOD: only the meaning can find it.
    hits, mode = search_memories(http, chat.agent_id,
                                 {"query": "what food do I enjoy", "mode": "semantic"}, prefix)
    assert mode == "semantic"
    assert hits, "semantic search found nothing"
    assert hits[0]["id"] == chat.memory_ids[FOOD]
    assert hits[0]["content"]["text"] == FOOD
    assert hits[0]["agentId"] == chat.agent_id
    for hit in hits:
        assert 0.1 <= hit["similarity"] <= 1.0 + 1e-6, hit  # default threshold 0.1
        assert hit["score"] == hit["similarity"]
    similarities = [hit["similarity"] for hit in hits]
    assert similarities == sorted(similarities, reverse=True)
    railway, _ = search_memories(http, chat.agent_id, {
        "query": "when does my railway journey start", "mode": "semantic"}, prefix)
    assert railway[0]["id"] == chat.memory_ids[TRAIN]


def test_text_search_cannot_find_the_paraphrase(http: httpx.Client, chat: Chat) -> None:
    hits, mode = search_memories(http, chat.agent_id,
                                 {"query": "what food do I enjoy", "mode": "text"})
    assert mode == "text"
    assert hits == []


def test_text_search_finds_the_word_first(http: httpx.Client, chat: Chat) -> None:
    hits, mode = search_memories(http, chat.agent_id, {"query": "cheese", "mode": "text"})
    assert mode == "text"
    assert ids_of(hits) == [chat.memory_ids[FOOD]]
    assert "similarity" not in hits[0]
    assert isinstance(hits[0]["score"], float)
    bicycle, _ = search_memories(http, chat.agent_id, {"query": "BICYCLE", "mode": "text"})
    assert ids_of(bicycle) == [chat.memory_ids[BICYCLE]]


def test_default_mode_is_hybrid_with_the_relevant_memory_first(http: httpx.Client,
                                                               chat: Chat) -> None:
    by_meaning, mode = search_memories(http, chat.agent_id, {"query": "what food do I enjoy"})
    assert mode == "hybrid"
    assert by_meaning[0]["id"] == chat.memory_ids[FOOD]
    by_word, mode = search_memories(http, chat.agent_id, {"query": "Berlin", "mode": "auto"})
    assert mode == "hybrid"
    assert by_word[0]["id"] == chat.memory_ids[TRAIN]
    # In both lists beats in one: the fused score of the first hit is the highest.
    assert by_word[0]["score"] > max((hit["score"] for hit in by_word[1:]), default=0.0)


def test_message_search_semantic_finds_the_central_message(http: httpx.Client,
                                                           chat: Chat) -> None:
    food = chat.messages[FOOD]
    hits, mode = search_messages(http, {"query": "what food do I enjoy", "mode": "semantic"})
    assert mode == "semantic"
    first = hits[0]
    assert first["id"] == food["id"]
    assert first["channelId"] == chat.channel_id
    assert first["authorId"] == chat.user_id
    assert first["content"] == FOOD
    assert first["message_server_id"] == DEFAULT_SERVER
    assert 0.1 <= first["score"] <= 1.0 + 1e-6
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert len(set(ids_of(hits))) == len(hits), "a message listed twice"
    in_channel, _ = search_messages(http, {"query": "when does my railway journey start",
                                           "mode": "semantic", "channelId": chat.channel_id})
    assert in_channel[0]["id"] == chat.messages[TRAIN]["id"]
    assert {hit["channelId"] for hit in in_channel} == {chat.channel_id}


def test_message_search_text_and_default_modes(http: httpx.Client, chat: Chat) -> None:
    food = chat.messages[FOOD]["id"]
    by_word, mode = search_messages(http, {"query": "cheese", "mode": "text"})
    assert mode == "text"
    assert ids_of(by_word) == [food]
    assert isinstance(by_word[0]["score"], float)
    by_meaning, mode = search_messages(http, {"query": "what food do I enjoy"})
    assert mode == "hybrid"
    assert by_meaning[0]["id"] == food
    assert by_meaning[0]["content"] == FOOD


# -- vectors --------------------------------------------------------------------------------


def test_include_embedding_gives_unit_vectors(http: httpx.Client, chat: Chat) -> None:
    with_vectors = chat.memories(include_embedding=True)
    assert len(with_vectors) == 2 * len(TOPICS)
    for memory in with_vectors:
        vector = memory["embedding"]
        assert isinstance(vector, list), memory["id"]
        assert len(vector) == DIMENSIONS, memory["id"]
        assert all(isinstance(x, float) for x in vector)
        assert abs(math.sqrt(sum(x * x for x in vector)) - 1.0) <= 1e-3
    food, train = (next(m["embedding"] for m in with_vectors if m["id"] == chat.memory_ids[t])
                   for t in (FOOD, TRAIN))
    assert food != train
    room = with_vectors[0]["roomId"]
    in_room = data_of(http.get(f"/api/memory/{chat.agent_id}/rooms/{room}/memories",
                               params={"includeEmbedding": "true"}))["memories"]
    assert {m["id"]: m["embedding"] for m in in_room} == \
        {m["id"]: m["embedding"] for m in with_vectors}
    for memory in chat.memories() + data_of(http.get(
            f"/api/memory/{chat.agent_id}/rooms/{room}/memories"))["memories"]:
        assert "embedding" not in memory


# -- deletes and edits ----------------------------------------------------------------------


def test_deleted_memory_leaves_semantic_results(http: httpx.Client, chat: Chat) -> None:
    space = Chat(http, chat.agent_id).open()
    saturn = "Saturn has beautiful rings of ice"
    space.say(saturn)
    space.wait_embedded()
    query = {"query": "which planet is surrounded by rings", "mode": "semantic"}
    before, _ = search_memories(http, chat.agent_id, query)
    assert before[0]["id"] == space.memory_ids[saturn]
    data_of(http.delete(f"/api/memory/{chat.agent_id}/memories/{space.memory_ids[saturn]}"))
    after, _ = search_memories(http, chat.agent_id, query)
    assert space.memory_ids[saturn] not in ids_of(after)
    assert ids_of(after) == [i for i in ids_of(before) if i != space.memory_ids[saturn]]


def test_edited_memory_is_embedded_again(http: httpx.Client, chat: Chat) -> None:
    edits = Chat(http, chat.agent_id).open()
    knitting = "Grandmother knitted a woolly scarf"
    violin = "The violin concert was sublime"
    edits.say(knitting)
    old = {m["id"]: m["embedding"] for m in edits.wait_embedded()}
    memory_id = edits.memory_ids[knitting]
    music = {"query": "music performance", "mode": "semantic"}
    wool = {"query": "grandmother knitting a scarf", "mode": "semantic"}
    assert memory_id not in ids_of(search_memories(http, chat.agent_id, music)[0])
    assert search_memories(http, chat.agent_id, wool)[0][0]["id"] == memory_id

    data_of(http.patch(f"/api/memory/{chat.agent_id}/memories/{memory_id}",
                       json={"content": {"text": violin}}))

    def found_by_new_meaning() -> dict[str, Any] | None:
        hits, _ = search_memories(http, chat.agent_id, music)
        return hits[0] if hits and hits[0]["id"] == memory_id else None

    # The PATCH wakes the indexer: far sooner than its 60 s re-check.
    hit = wait_until_sync(found_by_new_meaning, within=20, interval=0.1,
                          message="the edited memory to be found by its new meaning")
    assert hit["content"]["text"] == violin
    assert memory_id not in ids_of(search_memories(http, chat.agent_id, wool)[0])
    new = {m["id"]: m["embedding"] for m in edits.wait_embedded()}
    assert new[memory_id] != old[memory_id]
    assert len(new[memory_id]) == DIMENSIONS


# -- an agent that gets the model later -----------------------------------------------------


def test_memories_from_before_the_model_catch_up(http: httpx.Client, agent: str) -> None:
    late = create_agent(http, "Latecomer", [])
    rain = "Heavy rain flooded the valley last spring"
    taxes = "Quarterly tax forms are due next week"
    old = Chat(http, late).open()
    old.say(rain, taxes)
    flood = {"query": "storm and flooding", "mode": "semantic"}
    refused = error_of(http.post(f"/api/memory/{late}/memories/search", json=flood), 503)
    assert refused["code"] == "EMBEDDING_NOT_AVAILABLE"
    assert all(m["embedding"] is None for m in old.memories(include_embedding=True))

    data_of(http.post(f"/api/agents/{late}/stop", json={}))
    updated = data_of(http.patch(f"/api/agents/{late}", json={"plugins": ["minilm"]}))
    assert updated["plugins"] == ["minilm"]
    data_of(http.post(f"/api/agents/{late}/start", json={}))

    assert len(old.wait_embedded()) == 4  # two turns, written before the model existed
    hits, mode = search_memories(http, late, flood)
    assert mode == "semantic"
    assert hits[0]["id"] == old.memory_ids[rain]
    assert hits[0]["content"]["text"] == rain
    messages, _ = search_messages(http, {"query": "paperwork deadline", "mode": "semantic",
                                         "channelId": old.channel_id})
    assert messages[0]["id"] == old.messages[taxes]["id"]


# -- memories created or imported through the API -----------------------------------------


def test_created_and_imported_memories_are_embedded(http: httpx.Client, agent: str) -> None:
    room = data_of(http.post(f"/api/agents/{agent}/rooms", json={"name": "notes"}), 201)
    created = data_of(http.post(f"/api/memory/agents/{agent}/memories", json={
        "content": {"text": "The glassblower shapes a vase from molten glass"},
        "type": "facts", "roomId": room["id"]}), 201)
    query = {"query": "an artisan forming hot glass", "mode": "semantic", "tableName": "facts"}

    def embedded(agent_id: str, memory_id: str) -> dict[str, Any] | None:
        memory = data_of(http.get(f"/api/agents/{agent_id}/memories/{memory_id}",
                                  params={"includeEmbedding": "true"}))
        return memory if isinstance(memory["embedding"], list) else None

    wait_until_sync(lambda: embedded(agent, created["id"]), within=EMBEDDING_WITHIN,
                    interval=0.1, message="the created memory to be embedded")
    assert ids_of(search_memories(http, agent, query)[0])[:1] == [created["id"]]
    # Imported into another agent with the model: embedded by that agent.
    copy = create_agent(http, "Copy", ["minilm"])
    exported = data_of(http.get(f"/api/memory/agents/{agent}/export"))
    exported["memories"] = [m for m in exported["memories"] if m["id"] == created["id"]]
    assert data_of(http.post(f"/api/memory/agents/{copy}/import", json=exported))[
        "imported"] == 1
    copied = data_of(http.get(f"/api/memory/agents/{copy}/memories",
                              params={"type": "facts"}))["memories"][0]["id"]
    vector = wait_until_sync(lambda: embedded(copy, copied), within=FIRST_EMBEDDING_WITHIN,
                             interval=0.1, message="the imported memory to be embedded")
    assert len(vector["embedding"]) == DIMENSIONS
    assert ids_of(search_memories(http, copy, query)[0]) == [copied]


# -- errors ---------------------------------------------------------------------------------


def test_semantic_search_without_a_model_is_503(http: httpx.Client, plain_agent: str) -> None:
    path = f"/api/memory/{plain_agent}/memories/search"
    for mode in ("semantic", "hybrid"):
        error = error_of(http.post(path, json={"query": "anything", "mode": mode}), 503)
        assert error["code"] == "EMBEDDING_NOT_AVAILABLE", (mode, error)
    # By default, an agent without the model is searched by text.
    plain = Chat(http, plain_agent).open()
    plain.say("The lighthouse keeper counts seagulls")
    hits, mode = search_memories(http, plain_agent, {"query": "seagulls"})
    assert mode == "text"
    assert ids_of(hits) == [plain.memory_ids["The lighthouse keeper counts seagulls"]]
    # No embedding agent takes part in that channel: semantic message search is refused.
    error = error_of(http.post(SEARCH_MESSAGES, json={
        "query": "birds", "mode": "semantic", "channelId": plain.channel_id}), 503)
    assert error["code"] == "EMBEDDING_NOT_AVAILABLE"
    text, mode = search_messages(http, {"query": "seagulls", "channelId": plain.channel_id})
    assert mode == "text"
    assert ids_of(text) == [plain.messages["The lighthouse keeper counts seagulls"]["id"]]


def test_semantic_search_of_a_stopped_agent_is_503(http: httpx.Client, agent: str) -> None:
    paused = create_agent(http, "Paused", ["minilm"])
    chat = Chat(http, paused).open()
    chat.say("Penguins huddle together in the Antarctic winter")
    chat.wait_embedded()
    data_of(http.post(f"/api/agents/{paused}/stop", json={}))
    path = f"/api/memory/{paused}/memories/search"
    error = error_of(http.post(path, json={"query": "cold birds", "mode": "semantic"}), 503)
    assert error["code"] == "EMBEDDING_NOT_AVAILABLE"
    assert "not running" in error["message"]
    # Text search reads the store: a stopped agent's memories are still found.
    hits, mode = search_memories(http, paused, {"query": "penguins"})
    assert mode == "text"
    assert hits[0]["content"]["text"] == "Penguins huddle together in the Antarctic winter"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"query": "x", "mode": "banana"}, 400, "BAD_REQUEST"),
    ({"query": "x", "mode": "semantic", "threshold": 5}, 400, "BAD_REQUEST"),
    ({"query": "x", "threshold": "high"}, 400, "BAD_REQUEST"),
    ({"query": "", "mode": "semantic"}, 400, "BAD_REQUEST"),
])
def test_bad_search_requests_are_400(http: httpx.Client, agent: str, body: dict[str, Any],
                                     status: int, code: str) -> None:
    for path in (f"/api/memory/{agent}/memories/search", SEARCH_MESSAGES):
        error = error_of(http.post(path, json=body), status)
        assert error["code"] == code, (path, error)


def test_bad_and_unknown_agents(http: httpx.Client) -> None:
    body = {"query": "x", "mode": "semantic"}
    error = error_of(http.post("/api/memory/not-an-agent/memories/search", json=body), 400)
    assert error["code"] == "INVALID_ID"
    error = error_of(http.post(f"/api/memory/{uuid.uuid4()}/memories/search", json=body), 404)
    assert error["code"] == "NOT_FOUND"
    error = error_of(http.post(f"/api/agents/{uuid.uuid4()}/memories/search", json=body), 404)
    assert error["code"] == "NOT_FOUND"


@pytest.mark.parametrize("key", ["from", "to"])
def test_message_search_bad_dates_are_400(http: httpx.Client, key: str) -> None:
    for value in ("not a date", True, {"at": 1}):
        error = error_of(http.post(SEARCH_MESSAGES, json={"query": "x", key: value}), 400)
        assert error["code"] == "BAD_REQUEST"
        assert key in error["message"]


# -- message search filters -----------------------------------------------------------------


def test_message_search_filters(http: httpx.Client) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())

    def channel(members: list[str]) -> str:
        # No agent in it: nobody answers, the messages are only the users'.
        return str(data_of(http.post("/api/messaging/central-channels", json={
            "name": "filters", "message_server_id": DEFAULT_SERVER,
            "participantCentralUserIds": members, "type": "GROUP"}), 201)["id"])

    last = [0]

    def post(channel_id: str, author: str, text: str) -> dict[str, Any]:
        # Distinct creation times, so that from/to can tell the messages apart.
        wait_until_sync(lambda: time.time() * 1000 > last[0] + 2, within=5, interval=0.001,
                        message="the clock to move on")
        message = data_of(http.post(f"/api/messaging/central-channels/{channel_id}/messages",
                                    json={"author_id": author, "content": text,
                                          "server_id": DEFAULT_SERVER}), 201)
        last[0] = int(message["created_at"])
        return dict(message)

    one, two = channel([alice, bob]), channel([alice])
    dawn = post(one, alice, "quokka sighting at dawn")
    noon = post(one, bob, "quokka sighting at noon")
    dusk = post(two, alice, "quokka sighting at dusk")
    assert dawn["created_at"] < noon["created_at"] < dusk["created_at"]

    def found(**where: Any) -> set[str]:
        hits, mode = search_messages(http, {"query": "quokka", "mode": "text", **where})
        assert mode == "text"
        return set(ids_of(hits))

    everything = {dawn["id"], noon["id"], dusk["id"]}
    assert found() == everything
    assert found(authorId=alice) == {dawn["id"], dusk["id"]}
    assert found(authorId=bob) == {noon["id"]}
    assert found(channelId=two) == {dusk["id"]}
    assert found(channelId=one) == {dawn["id"], noon["id"]}
    assert found(channelId=one, authorId=alice) == {dawn["id"]}
    # from/to are inclusive, as epoch ms or ISO dates.
    assert found(**{"from": noon["created_at"]}) == {noon["id"], dusk["id"]}
    assert found(**{"from": noon["createdAt"]}) == {noon["id"], dusk["id"]}
    assert found(to=noon["created_at"]) == {dawn["id"], noon["id"]}
    assert found(to=noon["createdAt"]) == {dawn["id"], noon["id"]}
    assert found(**{"from": noon["createdAt"], "to": noon["created_at"]}) == {noon["id"]}
    assert found(**{"from": str(dusk["created_at"] + 1)}) == set()
    assert found(to=dawn["created_at"] - 1) == set()
    assert found(authorId=alice, **{"from": noon["createdAt"]}) == {dusk["id"]}
