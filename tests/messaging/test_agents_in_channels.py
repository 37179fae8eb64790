"""Who answers: participation, server subscription, group rules, concurrency, ordering."""

from __future__ import annotations

from typing import Any

import trio

from eliza import ids
from eliza.bus import NewMessage
from eliza.server import AgentServer

from .helpers import (
    DEFAULT_SERVER,
    ELIZA_ID,
    USER_ID,
    create_channel,
    drain,
    messages,
    post,
    replies,
    send_json,
)


async def make_agent(client: Any, name: str, **character: Any) -> str:
    body = {"characterJson": {"name": name, "bio": [f"{name} is a test agent."], **character}}
    created = await send_json(client, "post", "/api/agents", body, 201)
    agent_id = str(created["data"]["id"])
    await send_json(client, "post", f"/api/agents/{agent_id}/start", None, 200)
    return agent_id


def by_author(found: list[dict[str, Any]], author: str) -> list[dict[str, Any]]:
    return [m for m in found if m["authorId"] == author]


async def test_two_agents_named_in_a_group_each_answer_once(client: Any) -> None:
    alpha = await make_agent(client, "Alpha")
    beta = await make_agent(client, "Beta")
    channel = await create_channel(client, [USER_ID, alpha, beta])
    first = await post(client, channel["id"], "Hello Alpha and Beta, how are you?")
    got = await replies(client, channel["id"], 2)
    assert sorted(m["authorId"] for m in got) == sorted([alpha, beta])
    assert {m["inReplyToRootMessageId"] for m in got} == {first["id"]}
    # A later message both answer: once it is answered, any extra answer to the first
    # (e.g. an agent answering the other agent's reply) would be stored already.
    second = await post(client, channel["id"], "@alpha and beta: one more time")
    got = await replies(client, channel["id"], 4)
    assert len(got) == 4
    for agent in (alpha, beta):
        mine = by_author(got, agent)
        assert [m["inReplyToRootMessageId"] for m in mine] == [first["id"], second["id"]]
        assert mine[0]["metadata"]["channelType"] == "GROUP"


async def test_respond_in_groups_setting(client: Any) -> None:
    gamma = await make_agent(client, "Gamma", settings={"respondInGroups": True})
    delta = await make_agent(client, "Delta")
    channel = await create_channel(client, [USER_ID, gamma, delta])
    unaddressed = await post(client, channel["id"], "What a nice day it is")
    addressed = await post(client, channel["id"], "Delta, are you there?")
    got = await replies(client, channel["id"], 3)
    assert [m["inReplyToRootMessageId"] for m in by_author(got, gamma)] == [
        unaddressed["id"], addressed["id"]]
    assert [m["inReplyToRootMessageId"] for m in by_author(got, delta)] == [addressed["id"]]


async def test_no_reply_without_participation_or_subscription(
    client: Any, agent_server: AgentServer
) -> None:
    outside = await create_channel(client, [USER_ID])  # Eliza is not a participant
    await post(client, outside["id"], "Eliza, can you hear me?")
    other_server = (await send_json(client, "post", "/api/messaging/message-servers",
                                    {"name": "other", "sourceType": "test"}, 201))["data"]
    unsubscribed = (await send_json(client, "post", "/api/messaging/channels", {
        "name": "elsewhere", "message_server_id": other_server["server"]["id"],
        "participantCentralUserIds": [USER_ID, ELIZA_ID], "type": "DM"}, 201))["data"]
    await post(client, unsubscribed["id"], "Anyone here?",
               message_server_id=other_server["server"]["id"])
    # The agent takes its inbox in order: once it answered a later DM, it has seen both.
    dm = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    await post(client, dm["id"], "Hello")
    await replies(client, dm["id"], 1)
    assert len(await messages(client, outside["id"])) == 1
    assert len(await messages(client, unsubscribed["id"])) == 1
    room = ids.create_unique_uuid(ELIZA_ID, outside["id"])
    rows = await agent_server.store.read(
        lambda db: list(db.query("SELECT id FROM memories WHERE room_id = ?", [room])))
    assert rows == []

    # Subscribing the agent to the server makes it answer there.
    await send_json(client, "post",
                    f"/api/messaging/message-servers/{other_server['server']['id']}/agents",
                    {"agentId": ELIZA_ID}, 201)
    later = await post(client, unsubscribed["id"], "Now?",
                       message_server_id=other_server["server"]["id"])
    [reply] = await replies(client, unsubscribed["id"], 1)
    assert reply["inReplyToRootMessageId"] == later["id"]


async def test_concurrent_posts_get_one_ordered_reply_each(
    client: Any, agent_server: AgentServer
) -> None:
    channel = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    count = 20
    with agent_server.bus.subscribe("test", {NewMessage.name}) as events:
        async with trio.open_nursery() as nursery:
            for i in range(count):
                nursery.start_soon(post, client, channel["id"], f"message number {i}")
        got = await replies(client, channel["id"], count, within=20)
        assert len(got) == count
        users = [m for m in reversed(await messages(client, channel["id"]))
                 if m["authorId"] == USER_ID]
        assert len(users) == count
        # One reply per user message, and the replies follow the order of the messages.
        assert [m["inReplyToRootMessageId"] for m in got] == [u["id"] for u in users]
        # A reply is visible in the store a moment before its event is published: wait for
        # the events, then check that no extra one came.
        published: list[NewMessage] = []
        with trio.fail_after(10):
            while len(published) < 2 * count:
                event = await events.receive()
                assert isinstance(event, NewMessage)
                published.append(event)
        published += [e for e in drain(events) if isinstance(e, NewMessage)]
    # Exactly one bus event per stored message (one stored message = one bus event = one agent
    # turn): 20 user + 20 agent.
    assert len(published) == 2 * count
    assert len({e.message["id"] for e in published}) == 2 * count
    runs = await agent_server.store.read(lambda db: list(db.query(
        "SELECT COUNT(DISTINCT run_id) AS n FROM logs WHERE agent_id = ? AND type = 'run_event'",
        [ELIZA_ID])))
    assert runs[0]["n"] == count


async def test_idempotent_replay_returns_stored_message_and_no_second_turn(
    client: Any, agent_server: AgentServer
) -> None:
    channel = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    url = f"/api/messaging/channels/{channel['id']}/messages"
    body = {"author_id": USER_ID, "content": "only once please",
            "message_server_id": DEFAULT_SERVER}
    results: list[dict[str, Any]] = []

    async def send() -> None:
        answer = await send_json(client, "post", url, body, 201,
                                 headers={"Idempotency-Key": "client-key-1"})
        results.append(answer["data"])

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(send)
    assert len({r["id"] for r in results}) == 1
    replay = await post(client, channel["id"], "different text is ignored",
                        metadata={"clientMessageId": "client-key-2"})
    again = await post(client, channel["id"], "different text is ignored",
                       metadata={"clientMessageId": "client-key-2"})
    assert again["id"] == replay["id"]
    assert again["content"] == replay["content"]
    got = await replies(client, channel["id"], 2)
    sentinel = await post(client, channel["id"], "last one")
    got = await replies(client, channel["id"], 3)
    assert [m["inReplyToRootMessageId"] for m in got] == [
        results[0]["id"], replay["id"], sentinel["id"]]
    assert len(await messages(client, channel["id"])) == 6
