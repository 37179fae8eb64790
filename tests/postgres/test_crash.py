"""A crash under load on PostgreSQL: clients post to the default agent while the server's
worker is SIGKILLed, and retry what was not acknowledged (same client message id) on the
restarted server. Afterwards every acknowledged message is stored exactly once and has
exactly one reply from the agent (owed messages are rows in the database, so the restart
answers what the crash left unanswered)."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import trio

from conftest import LiveServer
from eliza.ids import DEFAULT_SERVER_ID
from tests.backends import own_schema
from tests.polling import wait_until

from .support import post_until_acknowledged, request, rows

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]

CLIENTS = 20
POSTS_EACH = 20
KILL_AFTER = 60  # acknowledged posts before the crash


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with own_schema("crash") as (_, url):
        live = LiveServer(tmp_path / "srv" / ".eliza", {"POSTGRES_URL": url})
        try:
            live.start()
            yield live
        finally:
            live.stop()


async def test_sigkill_under_load_loses_and_repeats_nothing(server: LiveServer) -> None:
    agents = (await request("GET", f"{server.url}/api/agents")).json()["data"]["agents"]
    agent = next(a["id"] for a in agents if a["name"] == "Eliza")
    users = [str(uuid.uuid4()) for _ in range(CLIENTS)]
    channels = []
    for user in users:
        created = await request("POST", f"{server.url}/api/messaging/channels", json={
            "name": "crash", "type": "DM", "message_server_id": DEFAULT_SERVER_ID,
            "participantCentralUserIds": [user, agent]})
        channels.append(created.json()["data"]["id"])
    url = [server.url]
    acknowledged: dict[str, str] = {}
    killed_at = 0

    async def crash_and_restart() -> None:
        nonlocal killed_at
        await wait_until(lambda: len(acknowledged) >= KILL_AFTER, within=30,
                         message="posts acknowledged before the crash")
        worker = server.worker_pid()
        os.kill(worker, signal.SIGKILL)
        killed_at = len(acknowledged)
        await trio.to_thread.run_sync(server.stop)
        await trio.to_thread.run_sync(server.start)
        url[0] = server.url

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(crash_and_restart)
            for n, (user, channel_id) in enumerate(zip(users, channels, strict=True)):
                nursery.start_soon(partial(
                    post_until_acknowledged, lambda _: url[0], channel_id, user, n,
                    POSTS_EACH, acknowledged, request_timeout=10, retry_after=0.05))
    assert KILL_AFTER <= killed_at < CLIENTS * POSTS_EACH  # the crash was mid-load
    assert len(acknowledged) == CLIENTS * POSTS_EACH

    marks = ", ".join("?" for _ in channels)
    stored = rows(server, "SELECT idempotency_key, id FROM central_messages"
                  f" WHERE channel_id IN ({marks}) AND author_id <> ?", (*channels, agent))
    # Each client message id once, as the message whose id the client was given.
    assert sorted(stored) == sorted(acknowledged.items())

    def replies() -> dict[str, int]:
        return dict(rows(server, "SELECT in_reply_to_root_message_id, count(*)"
                         f" FROM central_messages WHERE channel_id IN ({marks})"
                         " AND author_id = ? GROUP BY in_reply_to_root_message_id",
                         (*channels, agent)))

    answered = await wait_until(
        lambda: (found := replies()) and set(acknowledged.values()) <= set(found) and found,
        within=60, interval=0.5, message="a reply to every acknowledged message")
    await trio.sleep(1)  # a second turn for a message, were there one, lands by now
    answered = replies()
    assert set(answered) == set(acknowledged.values())
    assert set(answered.values()) == {1}, {k: v for k, v in answered.items() if v != 1}
