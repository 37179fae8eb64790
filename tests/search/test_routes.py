"""The search routes through the in-process app: messages and an agent's memories."""

from __future__ import annotations

from typing import Any

from eliza import ids
from eliza.server import AgentServer
from tests.memory.helpers import ELIZA_ID, USER_ID, dm_turn, error_of
from tests.messaging.helpers import DEFAULT_SERVER, create_channel, post, send_json

SEARCH = "/api/messaging/messages/search"


async def _search(client: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await send_json(client, "post", SEARCH, body)
    assert answer["success"] is True
    return list(answer["data"]["messages"])


async def _user_channel(client: Any, name: str = "search") -> str:
    # No agent in the channel: nobody answers, the messages are only ours.
    return str((await create_channel(client, [USER_ID], name=name))["id"])


async def test_relevant_message_first_in_the_message_shape(client: Any) -> None:
    channel = await _user_channel(client)
    await post(client, channel, "The quick brown fox jumps over the lazy dog")
    best = await post(client, channel, "Giraffe facts: a giraffe sleeps standing, giraffes!")
    await post(client, channel, "One giraffe at the zoo, and many penguins")
    await post(client, channel, "Nothing to see here")
    found = await _search(client, {"query": "giraffe"})
    assert next(m["id"] for m in found) == best["id"]
    assert len(found) == 2
    first = found[0]
    assert first["content"] == best["content"]
    assert first["channelId"] == channel
    assert first["authorId"] == USER_ID
    assert first["message_server_id"] == DEFAULT_SERVER
    assert "createdAt" in first
    assert isinstance(first["score"], float)
    assert first["score"] >= found[1]["score"]
    both = await _search(client, {"query": "giraffe penguins"})
    assert [m["id"] for m in both] == [found[1]["id"]]
    anyof = await _search(client, {"query": "penguins fox", "match": "any"})
    assert len(anyof) == 2


async def test_case_and_diacritics_insensitive(client: Any) -> None:
    channel = await _user_channel(client)
    accented = await post(client, channel, "Une crème brûlée à Besançon")
    plain = await post(client, channel, "CREME CARAMEL in BESANCON")
    assert {m["id"] for m in await _search(client, {"query": "creme"})} == \
        {accented["id"], plain["id"]}
    assert [m["id"] for m in await _search(client, {"query": "BRÛLÉE"})] == [accented["id"]]
    assert [m["id"] for m in await _search(client, {"query": "brulee besancon"})] == \
        [accented["id"]]
    assert [m["id"] for m in await _search(client, {"query": "Caramel"})] == [plain["id"]]


async def test_special_characters_never_error(client: Any) -> None:
    channel = await _user_channel(client)
    target = await post(client, channel, 'She said "hello" to the walrus (twice) - near noon')
    for query in ['"', '"walrus', "walrus*", "*", "-walrus", "walrus -noon", "NEAR(walrus noon)",
                  "NEAR", "(walrus", "walrus)", "walrus OR", "AND", "NOT walrus", "content:walrus",
                  "^walrus", "walrus:", "{walrus}", "'", "\\", "wal+rus", "🦭 walrus", "* - ( )"]:
        await _search(client, {"query": query})
    assert [m["id"] for m in await _search(client, {"query": '"walrus"'})] == [target["id"]]
    assert [m["id"] for m in await _search(client, {"query": "walr*"})] == [target["id"]]
    assert [m["id"] for m in await _search(client, {"query": "(twice)"})] == [target["id"]]
    assert [m["id"] for m in await _search(client, {"query": "-walrus"})] == [target["id"]]
    assert await _search(client, {"query": "* - ( )"}) == []


async def test_deleted_and_edited_messages(client: Any) -> None:
    channel = await _user_channel(client)
    gone = await post(client, channel, "ephemeral pelican message")
    kept = await post(client, channel, "a lasting pelican message")
    assert len(await _search(client, {"query": "pelican"})) == 2
    await send_json(client, "delete", f"/api/messaging/channels/{channel}/messages/{gone['id']}",
                    status=204)
    assert [m["id"] for m in await _search(client, {"query": "pelican"})] == [kept["id"]]
    assert await _search(client, {"query": "ephemeral"}) == []
    await send_json(client, "patch", f"/api/messaging/messages/{kept['id']}",
                    {"content": "now about a heron"})
    assert await _search(client, {"query": "pelican"}) == []
    assert [m["id"] for m in await _search(client, {"query": "heron"})] == [kept["id"]]


async def test_channel_filter_limit_and_offset(client: Any) -> None:
    one = await _user_channel(client, "one")
    two = await _user_channel(client, "two")
    for n in range(5):
        await post(client, one, f"otter report {n}")
    other = await post(client, two, "otter elsewhere")
    assert len(await _search(client, {"query": "otter"})) == 6
    assert len(await _search(client, {"query": "otter", "limit": 3})) == 3
    everything = await _search(client, {"query": "otter", "limit": "100"})
    page = await _search(client, {"query": "otter", "limit": 2, "offset": 2})
    assert [m["id"] for m in page] == [m["id"] for m in everything[2:4]]
    assert [m["id"] for m in await _search(client, {"query": "otter", "channelId": two})] == \
        [other["id"]]
    assert len(await _search(client, {"query": "otter", "channelId": one})) == 5


async def test_message_search_errors(client: Any) -> None:
    for body in [{}, {"query": ""}, {"query": "   "}, {"query": 3}, {"query": "x" * 1001},
                 {"query": "a", "limit": "many"}, {"query": "a", "limit": True},
                 {"query": "a", "match": "some"}, {"query": "a", "channelId": 5}]:
        error = await error_of(client, "post", SEARCH, 400, body)
        assert error["code"] == "BAD_REQUEST", (body, error)
    error = await error_of(client, "post", SEARCH, 400, {"query": "a", "channelId": "nope"})
    assert error["code"] == "INVALID_ID"
    response = await client.post(SEARCH, data=b"{not json", headers={
        "Content-Type": "application/json"})
    assert response.status_code == 400


async def test_memory_search_finds_the_users_message(client: Any) -> None:
    turn = await dm_turn(client, "I keep dreaming about purple elephants")
    other = await dm_turn(client, "My elephant collection is small")
    for prefix in ("/api/memory", "/api/agents"):
        path = f"{prefix}/{ELIZA_ID}/memories/search"
        answer = await send_json(client, "post", path, {"query": "Purple ELEPHANTS"})
        assert answer["success"] is True
        memory = answer["data"]["memories"][0]  # Eliza's reply may echo the words: ranked after
        assert memory["content"]["text"] == "I keep dreaming about purple elephants"
        assert memory["agentId"] == ELIZA_ID
        assert memory["roomId"] == turn.room_id
        assert isinstance(memory["score"], float)
    path = f"/api/memory/{ELIZA_ID}/memories/search"
    both = (await send_json(client, "post", path, {"query": "elephants elephant",
                                                   "match": "any"}))["data"]["memories"]
    assert {m["roomId"] for m in both} == {turn.room_id, other.room_id}
    assert len((await send_json(client, "post", path, {"query": "elephants elephant",
                                                      "match": "any", "limit": 1}))
               ["data"]["memories"]) == 1
    by_channel = await send_json(client, "post", path, {"query": "elephant",
                                                         "channelId": other.channel_id})
    assert {m["roomId"] for m in by_channel["data"]["memories"]} == {other.room_id}
    by_room = await send_json(client, "post", path, {"query": "purple", "roomId": other.room_id})
    assert by_room["data"]["memories"] == []
    docs = await send_json(client, "post", path, {"query": "purple", "tableName": "documents"})
    assert docs["data"]["memories"] == []
    # Deleting a memory drops it from the results.
    hits = (await send_json(client, "post", path, {"query": "purple"}))["data"]["memories"]
    assert len(hits) == 2  # the user's message and Eliza's echo of it
    await send_json(client, "delete", f"/api/memory/{ELIZA_ID}/memories/{hits[0]['id']}")
    after = (await send_json(client, "post", path, {"query": "purple"}))["data"]["memories"]
    assert [m["id"] for m in after] == [hits[1]["id"]]


async def test_memory_search_errors(client: Any) -> None:
    path = f"/api/memory/{ELIZA_ID}/memories/search"
    for body in [{}, {"query": ""}, {"query": None}, {"query": "a", "tableName": 1}]:
        assert (await error_of(client, "post", path, 400, body))["code"] == "BAD_REQUEST"
    for body in [{"query": "a", "roomId": "bad"}, {"query": "a", "channelId": "bad"}]:
        assert (await error_of(client, "post", path, 400, body))["code"] == "INVALID_ID"
    error = await error_of(client, "post", "/api/memory/not-a-uuid/memories/search", 400,
                           {"query": "a"})
    assert error["code"] == "INVALID_ID"
    error = await error_of(client, "post", f"/api/memory/{ids.new_uuid()}/memories/search", 404,
                           {"query": "a"})
    assert error["code"] == "NOT_FOUND"
    # The GET/PATCH/DELETE `/memories/<memoryId>` routes are untouched by the search route.
    missing = await error_of(client, "delete", f"/api/memory/{ELIZA_ID}/memories/search", 400)
    assert missing["code"] == "INVALID_ID"


async def test_semantic_search_where_the_store_has_no_vectors_says_why(
        client: Any, agent_server: AgentServer) -> None:
    """The suite's PostgreSQL has no pgvector: semantic search is refused with the store's
    reason, and text search still answers. (SQLite has sqlite-vec: there the reason is
    that the agent has no embedding model.)"""
    store = agent_server.store
    channel = await _user_channel(client)
    target = await post(client, channel, "The albatross glides for hours")
    memory_path = f"/api/memory/{ELIZA_ID}/memories/search"
    for path in (memory_path, SEARCH):
        for mode in ("semantic", "hybrid"):
            error = await error_of(client, "post", path, 503, {"query": "bird", "mode": mode})
            assert error["code"] == "EMBEDDING_NOT_AVAILABLE", (path, mode, error)
            if store.dialect == "postgresql" and not store.vectors:
                assert "pgvector" in error["message"], error
                assert store.vector_reason in error["message"]
            else:
                assert "TEXT_EMBEDDING" in error["message"], error
    answer = await send_json(client, "post", SEARCH, {"query": "albatross"})
    assert answer["data"]["mode"] == "text"
    assert [m["id"] for m in answer["data"]["messages"]] == [target["id"]]
