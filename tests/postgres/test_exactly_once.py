"""Exactly-once under real concurrency: 50 requests for the same thing, all at once, against
a live server (so they run on as many pooled connections as it has), leave one row, and
every caller is told about that one. Runs on both stores (the backend fixture)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import httpx
import trio

from conftest import LiveServer
from eliza.ids import DEFAULT_SERVER_ID
from tests.polling import wait_until

from .support import at_once, count, request, rows

N = 50


def default_agent(server: LiveServer) -> str:
    agents = httpx.get(f"{server.url}/api/agents", timeout=10).json()["data"]["agents"]
    return str(next(a["id"] for a in agents if a["name"] == "Eliza"))


async def _replies(server: LiveServer, channel_id: str) -> Counter[str]:
    """How many agent replies each message of the channel has."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        listed = await http.get(f"/api/messaging/channels/{channel_id}/messages",
                                params={"limit": 1000})
    return Counter(m["inReplyToRootMessageId"] for m in listed.json()["data"]["messages"]
                   if m["sourceType"] == "agent_response")


async def test_dm_channel_of_a_pair_is_created_once(live_server: LiveServer) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())

    async def ask(http: httpx.AsyncClient, i: int) -> str:
        # Half ask as one user, half as the other: the same pair either way.
        me, them = (a, b) if i % 2 else (b, a)
        response = await http.get("/api/messaging/dm-channel",
                                  params={"currentUserId": me, "targetUserId": them})
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["id"])

    answered = await at_once(N, ask, url=live_server.url)
    assert len(answered) == N
    assert len(set(answered)) == 1
    low, high = sorted((a, b))
    assert count(live_server, "SELECT count(*) FROM channels WHERE type = 'DM' AND name = ?",
                 (f"DM-{low}-{high}",)) == 1
    assert sorted(r[0] for r in rows(
        live_server, "SELECT user_id FROM channel_participants WHERE channel_id = ?",
        (answered[0],))) == sorted((a, b))


async def test_message_server_with_one_id_is_created_once(live_server: LiveServer) -> None:
    server_id = str(uuid.uuid4())

    async def create(http: httpx.AsyncClient, i: int) -> str:
        response = await http.post("/api/messaging/message-servers", json={
            "id": server_id, "name": f"shared {i}", "sourceType": "race"})
        assert response.status_code == 201, response.text
        return str(response.json()["data"]["server"]["name"])

    names = await at_once(N, create, url=live_server.url)
    # Every caller sees the one row that won, not its own lost attempt.
    assert len(names) == N
    assert len(set(names)) == 1
    assert count(live_server, "SELECT count(*) FROM message_servers WHERE id = ?",
                 (server_id,)) == 1


async def test_first_messages_of_a_channel_make_one_room_and_one_entity_per_author(
        live_server: LiveServer) -> None:
    agent = await trio.to_thread.run_sync(default_agent, live_server)
    authors = [str(uuid.uuid4()) for _ in range(5)]
    created = await request("POST", f"{live_server.url}/api/messaging/channels", json={
        "name": "new", "type": "API", "message_server_id": DEFAULT_SERVER_ID,
        "participantCentralUserIds": [agent, *authors]})
    channel_id = created.json()["data"]["id"]

    async def post(http: httpx.AsyncClient, i: int) -> str:
        response = await http.post(f"/api/messaging/channels/{channel_id}/messages", json={
            "author_id": authors[i % len(authors)], "content": f"hello {i}"})
        assert response.status_code == 201, response.text
        return str(response.json()["userMessage"]["id"])

    posted = await at_once(N, post, url=live_server.url)
    assert len(set(posted)) == N

    async def all_answered() -> Counter[str] | None:
        replies = await _replies(live_server, channel_id)
        return replies if set(posted) <= set(replies) else None

    replies = await wait_until(all_answered, within=30, message="a reply to every message")
    assert set(replies.values()) == {1}
    room = rows(live_server, "SELECT id FROM rooms WHERE agent_id = ? AND channel_id = ?",
                (agent, channel_id))
    assert len(room) == 1
    entities = rows(live_server, "SELECT p.entity_id FROM participants p WHERE p.room_id = ?",
                    (room[0][0],))
    # One participant per author and one for the agent itself at most: no duplicates.
    assert len(entities) == len({e[0] for e in entities})
    assert len(entities) in (len(authors), len(authors) + 1)
    assert count(live_server, "SELECT count(*) FROM memories WHERE room_id = ? AND agent_id = ?"
                 " AND type = 'messages'", (room[0][0], agent)) == 2 * N


async def test_one_client_message_id_is_stored_once(live_server: LiveServer) -> None:
    agent = await trio.to_thread.run_sync(default_agent, live_server)
    user = str(uuid.uuid4())
    created = await request("POST", f"{live_server.url}/api/messaging/channels", json={
        "name": "idem", "type": "DM", "message_server_id": DEFAULT_SERVER_ID,
        "participantCentralUserIds": [user, agent]})
    channel_id = created.json()["data"]["id"]
    key = str(uuid.uuid4())

    async def post(http: httpx.AsyncClient, i: int) -> str:
        response = await http.post(f"/api/messaging/channels/{channel_id}/messages", json={
            "author_id": user, "content": "once", "clientMessageId": key})
        assert response.status_code == 201, response.text
        return str(response.json()["userMessage"]["id"])

    answered = await at_once(N, post, url=live_server.url)
    assert len(answered) == N
    assert len(set(answered)) == 1
    assert count(live_server, "SELECT count(*) FROM central_messages WHERE channel_id = ?"
                 " AND idempotency_key = ?", (channel_id, key)) == 1
    replies = await wait_until(lambda: _replies(live_server, channel_id), within=30,
                               message="the agent's reply")
    await trio.sleep(1)  # a second turn, were there one, would answer by now
    assert await _replies(live_server, channel_id) == Counter({answered[0]: 1}) == replies


def _listing(url: str, channel_id: str, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/messaging/channels/{channel_id}/messages",
                         params=params, timeout=30)
    assert response.status_code == 200, response.text
    return list(response.json()["data"]["messages"])


async def test_concurrent_posters_list_in_one_stable_order(live_server: LiveServer) -> None:
    posters, each = 20, 10
    created = await request("POST", f"{live_server.url}/api/messaging/channels", json={
        "name": "busy", "message_server_id": DEFAULT_SERVER_ID})
    channel_id = created.json()["data"]["id"]

    async def poster(http: httpx.AsyncClient, i: int) -> list[str]:
        ids = []
        for n in range(each):
            response = await http.post(f"/api/messaging/channels/{channel_id}/messages",
                                       json={"author_id": str(uuid.UUID(int=i + 1)),
                                             "content": f"{i}/{n}"})
            assert response.status_code == 201, response.text
            ids.append(response.json()["userMessage"]["id"])
        return ids

    posted = {m for ids in await at_once(posters, poster, url=live_server.url) for m in ids}
    assert len(posted) == posters * each
    whole = await trio.to_thread.run_sync(lambda: _listing(live_server.url, channel_id,
                                                           limit=1000))
    again = await trio.to_thread.run_sync(lambda: _listing(live_server.url, channel_id,
                                                           limit=1000))
    assert [m["id"] for m in whole] == [m["id"] for m in again]
    assert {m["id"] for m in whole} == posted
    # Each poster's own messages are listed in the order it posted them (newest first).
    for i in range(posters):
        mine = [m["content"] for m in whole if m["authorId"] == str(uuid.UUID(int=i + 1))]
        assert mine == [f"{i}/{n}" for n in reversed(range(each))]

    # Paging back with `before` (the oldest listed so far) and forward with `after` (the
    # newest listed so far) walks the same order, no message skipped or repeated.
    backward, forward = await trio.to_thread.run_sync(
        _page_both_ways, live_server.url, channel_id, whole[-1]["created_at"] - 1)
    assert backward == [m["id"] for m in whole]
    assert forward == [m["id"] for m in reversed(whole)]


def _page_both_ways(url: str, channel_id: str, start: int) -> tuple[list[str], list[str]]:
    """The channel's ids in pages of 7: newest first by `before`, then oldest first by
    `after` from `start`."""
    backward: list[str] = []
    before: int | None = None
    while page := _listing(url, channel_id, limit=7,
                           **({} if before is None else {"before": before})):
        backward += [m["id"] for m in page]
        before = page[-1]["created_at"]
    forward: list[str] = []
    after = start
    while page := _listing(url, channel_id, limit=7, after=after):
        forward += [m["id"] for m in reversed(page)]
        after = page[0]["created_at"]
    return backward, forward
