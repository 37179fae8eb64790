"""Nothing acknowledged is left unanswered: messages a slow agent owes survive a SIGKILL of
the server's worker and a graceful SIGTERM, and after the restart each is answered exactly
once, in order. The agent runs on an OpenAI-compatible model that takes 50 ms a call (a
local fake: the real API is out of reach), so a backlog builds up while clients post."""

from __future__ import annotations

import os
import signal
import uuid
from collections import Counter
from typing import Any

import httpx
import trio

from conftest import LiveServer
from eliza.ids import DEFAULT_SERVER_ID
from tests.backends import server_database
from tests.plugins.fake_openai import FakeOpenAI
from tests.polling import wait_until

CLIENTS = 10
POSTS_EACH = 6


async def _slow_agent_dm(http: httpx.AsyncClient, model_url: str, user: str) -> str:
    created = await http.post("/api/agents", json={"characterJson": {
        "name": "Slow", "plugins": ["openai"],
        "settings": {"secrets": {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": model_url}},
    }})
    agent_id = created.json()["data"]["id"]
    assert (await http.post(f"/api/agents/{agent_id}/start")).status_code == 200
    channel = await http.post("/api/messaging/channels", json={
        "name": "backlog", "message_server_id": DEFAULT_SERVER_ID, "type": "DM",
        "participantCentralUserIds": [user, agent_id]})
    return str(channel.json()["data"]["id"])


async def _post_burst(url: str, channel_id: str, user: str) -> list[str]:
    """CLIENTS clients post POSTS_EACH messages each without waiting for answers; the ids
    the server acknowledged (201). A post cut off by the kill is simply not acknowledged."""
    acknowledged: list[str] = []

    async def client(n: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            for i in range(POSTS_EACH):
                try:
                    response = await http.post(f"/api/messaging/channels/{channel_id}/messages",
                                               json={"author_id": user,
                                                     "content": f"client {n} message {i}",
                                                     "idempotency_key": f"{n}-{i}"})
                except httpx.HTTPError:
                    return
                if response.status_code == 201:
                    acknowledged.append(response.json()["userMessage"]["id"])

    async with trio.open_nursery() as nursery:
        for n in range(CLIENTS):
            nursery.start_soon(client, n)
    return acknowledged


async def _messages(url: str, channel_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.get(f"/api/messaging/channels/{channel_id}/messages",
                                  params={"limit": 1000})
        return list(response.json()["data"]["messages"])


def _replied_to(messages: list[dict[str, Any]]) -> list[str]:
    """The message each reply answers, oldest reply first."""
    return [m["inReplyToRootMessageId"] for m in reversed(messages)
            if m["sourceType"] == "agent_response"]


async def _backlog_then(stop: str, live_server_factory: Any, nursery: trio.Nursery) -> None:
    fake = FakeOpenAI(chunks=("noted",), delay=0.05)
    await nursery.start(fake.run)
    server: LiveServer = live_server_factory()
    user = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        channel_id = await _slow_agent_dm(http, fake.url, user)
    acknowledged = await _post_burst(server.url, channel_id, user)
    assert len(acknowledged) == CLIENTS * POSTS_EACH

    async def some_answered() -> bool:
        return len(_replied_to(await _messages(server.url, channel_id))) >= 3

    await wait_until(some_answered, within=30)
    if stop == "kill":
        worker = server.worker_pid()
        os.kill(worker, signal.SIGKILL)
        await trio.to_thread.run_sync(server.stop)
    else:
        await trio.to_thread.run_sync(server.stop, signal.SIGTERM)
    replies, owed = _stored_counts(server, channel_id)
    assert owed > 0, "the backlog was gone before the stop"
    assert replies + owed == len(acknowledged)  # what is not answered is owed, no more
    await trio.to_thread.run_sync(server.start)

    async def all_answered() -> bool:
        return len(_replied_to(await _messages(server.url, channel_id))) >= len(acknowledged)

    await wait_until(all_answered, within=60)
    messages = await _messages(server.url, channel_id)
    replied = _replied_to(messages)
    assert Counter(replied) == Counter(acknowledged)  # each exactly once
    users = [m["id"] for m in reversed(messages) if m["sourceType"] != "agent_response"]
    assert sorted(users) == sorted(acknowledged)  # every acknowledged message stored once
    assert replied == users  # in the order they were stored


def _stored_counts(server: LiveServer, channel_id: str) -> tuple[int, int]:
    """(replies stored, messages still owed), read from the database file while the
    server is down."""
    with server_database(server.data_dir) as db:
        replies = db.execute("SELECT count(*) FROM central_messages WHERE channel_id = ?"
                             " AND source_type = 'agent_response'", [channel_id]).fetchone()[0]
        owed = db.execute("SELECT count(*) FROM owed_messages").fetchone()[0]
    return int(replies), int(owed)


async def test_owed_messages_survive_a_sigkill(live_server_factory: Any,
                                               nursery: trio.Nursery) -> None:
    await _backlog_then("kill", live_server_factory, nursery)


async def test_owed_messages_survive_a_graceful_stop(live_server_factory: Any,
                                                     nursery: trio.Nursery) -> None:
    await _backlog_then("term", live_server_factory, nursery)
