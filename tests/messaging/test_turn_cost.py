"""What one chat turn costs in store round trips, and the code paths that keep it low: the
reply, the agent's memory of it and its run log share one transaction (`post_message`'s
`also`), and a reply awaited on a subscription opened before the post is built from the bus
event (no read back)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from eliza.bus import NewMessage
from eliza.server import AgentServer
from eliza.store import messaging as mq
from tests.sessions.conftest import create_session

from .helpers import ELIZA_ID, USER_ID, create_channel, drain, post, replies


def count_round_trips(monkeypatch: pytest.MonkeyPatch, server: AgentServer) -> dict[str, int]:
    counts = {"write": 0, "read": 0}
    store = server.store
    write, read = store.write, store.read

    async def counted_write(fn: Any, *args: Any) -> Any:
        counts["write"] += 1
        return await write(fn, *args)

    async def counted_read(fn: Any, *args: Any) -> Any:
        counts["read"] += 1
        return await read(fn, *args)

    monkeypatch.setattr(store, "write", counted_write)
    monkeypatch.setattr(store, "read", counted_read)
    return counts


async def test_a_session_http_turn_costs_four_writes_and_no_read(
    client: Any, agent_server: AgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = (await create_session(client))["sessionId"]
    runtime = agent_server.agents.runtime(ELIZA_ID)
    assert runtime is not None
    await runtime.caught_up.wait()  # its start-up reads are not part of the turn
    counts = count_round_trips(monkeypatch, agent_server)
    response = await client.post(f"/api/messaging/sessions/{sid}/messages",
                                 json={"content": "I need some help", "transport": "http"})
    assert response.status_code == 201
    body = await response.get_json()
    assert body["agentResponse"]["inReplyTo"] == body["userMessage"]["id"]
    # The turn ends (memory, run log) in the reply's own transaction, before the answer.
    # session touch, user message, agent takes it in, reply (+ memory + model log + run end)
    assert counts == {"write": 4, "read": 0}
    reply = await agent_server.store.read(mq.get_message, body["agentResponse"]["id"])
    assert reply is not None
    runs = await client.get(f"/api/agents/{ELIZA_ID}/runs")
    [run] = (await runs.get_json())["data"]["runs"]
    assert run["status"] == "completed"
    assert run["runId"] == reply["metadata"]["runId"]
    assert run["counts"]["modelCalls"] == 1


async def test_a_reply_awaited_on_the_bus_has_the_stored_shape(
    client: Any, agent_server: AgentServer
) -> None:
    channel = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    messaging = agent_server.messaging
    with messaging.watch_replies("test") as watching:
        sent = await post(client, channel["id"], "I feel anxious about my work")
        with trio.fail_after(10):
            awaited = await messaging.wait_for_reply(channel["id"], sent["id"], within=10,
                                                     author_id=ELIZA_ID, watching=watching)
    assert awaited is not None
    assert awaited == await messaging.get_message(awaited["id"])
    # and the same through the store read (the reply is stored by now)
    found = await messaging.wait_for_reply(channel["id"], sent["id"], within=1,
                                           author_id=ELIZA_ID)
    assert found is not None
    assert found["id"] == awaited["id"]


async def test_what_also_writes_rolls_back_with_the_message(
    client: Any, agent_server: AgentServer
) -> None:
    channel = await create_channel(client, [USER_ID], type_="GROUP")
    seen: list[dict[str, Any]] = []

    def also(db: Any, stored: dict[str, Any]) -> None:
        seen.append(stored)
        raise RuntimeError("boom")

    with agent_server.bus.subscribe("test", {NewMessage.name}) as sub:
        with pytest.raises(RuntimeError, match="boom"):
            await agent_server.messaging.post_message(
                channel_id=channel["id"], author_id=USER_ID, content="hello", also=also)
        assert drain(sub) == []
    [stored] = seen
    assert await agent_server.store.read(mq.get_message, stored["id"]) is None


async def test_the_reply_memory_is_stored_with_the_reply(
    client: Any, agent_server: AgentServer
) -> None:
    channel = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    with agent_server.bus.subscribe("test", {NewMessage.name}) as sub:
        sent = await post(client, channel["id"], "My mother takes care of me")
        async for event in sub:
            assert isinstance(event, NewMessage)
            if event.message["author_id"] == ELIZA_ID:
                reply = event.message
                break
        # By the time the reply is published, the agent's memory of it is committed.
        rows = await agent_server.store.read(
            lambda db: list(db.query("SELECT metadata FROM memories WHERE agent_id = ?",
                                     [ELIZA_ID])))
    assert len([r for r in rows if json.loads(r["metadata"]).get("sourceId") == reply["id"]]) == 1
    assert reply["in_reply_to_message_id"] == sent["id"]
    assert [r["id"] for r in await replies(client, channel["id"], 1)] == [reply["id"]]
