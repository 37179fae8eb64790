"""Routing of NewMessage to the agents that take part in its channel (not to every running
agent): the bus's addressed subscriptions, the route resolved when a message is stored, and
every way participation changes (added, removed, replaced participants, deleted channel,
message-server subscription, agent stopped or deleted)."""

from __future__ import annotations

import uuid
from typing import Any

from eliza import ids
from eliza.bus import (
    AGENT_EVENTS,
    ChannelDeleted,
    InProcessBus,
    MessageComplete,
    MessageRoute,
    NewMessage,
)
from eliza.server import AgentServer
from eliza.store import message_servers as sq
from eliza.store import messaging as mq

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


def new_message(channel: str = "c1", route: MessageRoute | None = None) -> NewMessage:
    return NewMessage({"id": str(uuid.uuid4()), "channel_id": channel}, route=route)


# -- the bus --------------------------------------------------------------------------------


async def test_routed_message_reaches_only_the_addressed_agents() -> None:
    bus = InProcessBus()
    socket_hub = bus.subscribe("hub")
    a = bus.subscribe("agent:a", AGENT_EVENTS, address="a")
    b = bus.subscribe("agent:b", AGENT_EVENTS, address="b")
    routed = new_message(route=MessageRoute(frozenset({"a", "nobody"}), {"id": "c1"}))
    bus.publish(routed)
    assert drain(socket_hub) == [routed]  # unaddressed subscribers see every message
    assert drain(a) == [routed]
    assert drain(b) == []
    # Unrouted messages and other events go to everyone who asked for them.
    unrouted = new_message()
    deleted = ChannelDeleted(channel_id="c1")
    bus.publish(unrouted)
    bus.publish(deleted)
    bus.publish(MessageComplete(channel_id="c1", message_server_id=DEFAULT_SERVER))
    assert drain(a) == drain(b) == [unrouted, deleted]  # agents did not ask for completes
    assert len(drain(socket_hub)) == 3
    assert bus.statistics() == {"subscribers": 3, "published": 4, "routed": 1}


async def test_unsubscribing_forgets_the_address() -> None:
    bus = InProcessBus()
    first = bus.subscribe("agent:a", AGENT_EVENTS, address="a")
    second = bus.subscribe("agent:a again", AGENT_EVENTS, address="a")
    assert bus.addresses() == ["a"]
    first.close()
    routed = new_message(route=MessageRoute(frozenset({"a"}), {"id": "c1"}))
    bus.publish(routed)
    assert drain(second) == [routed]
    second.close()
    assert bus.addresses() == []
    bus.publish(routed)  # no subscriber left: nothing to deliver, nothing raised
    assert bus.statistics()["subscribers"] == 0


async def test_an_overflowing_agent_inbox_is_cut_off_alone() -> None:
    bus = InProcessBus()
    small = bus.subscribe("agent:a", AGENT_EVENTS, address="a", capacity=2)
    other = bus.subscribe("agent:b", AGENT_EVENTS, address="b", capacity=2)
    route = MessageRoute(frozenset({"a", "b"}), {"id": "c1"})
    for _ in range(3):
        bus.publish(new_message(route=route))
    assert small.overflowed
    assert other.overflowed
    assert bus.addresses() == []
    fresh = bus.subscribe("agent:a", AGENT_EVENTS, address="a")
    bus.publish(new_message(route=route))
    assert len(drain(fresh)) == 1


# -- the route, from the store ---------------------------------------------------------------


async def test_channel_agents_checks_participation_and_subscription(
    agent_server: AgentServer,
) -> None:
    agents = [str(uuid.uuid4()) for _ in range(5)]
    users = [str(uuid.uuid4()) for _ in range(40)]
    now = 1

    def setup(db: Any) -> None:
        for agent in agents:
            db.execute("INSERT INTO agents (id, name, character, created_at, updated_at)"
                       " VALUES (?, ?, '{}', 1, 1)", [agent, f"routing-{agent}"])
        for agent in agents[:4]:  # agents[4] is not subscribed to the default server
            sq.add_server_agent(db, DEFAULT_SERVER, agent)
        for name, members in (("few", [users[0], agents[0], agents[4]]),
                              ("many", [*users, agents[1], agents[2], agents[4]])):
            mq.insert_channel(db, {"id": name, "message_server_id": DEFAULT_SERVER,
                                   "name": name, "type": "GROUP", "created_at": now,
                                   "updated_at": now}, members)

    await agent_server.store.write(setup)

    async def route(channel: str, candidates: list[str]) -> list[str]:
        return sorted(await agent_server.store.read(mq.channel_agents, channel,
                                                    DEFAULT_SERVER, candidates))

    # Few participants: they are checked against the candidates.
    assert await route("few", agents) == [agents[0]]
    # Many participants: the candidates are looked up in the channel instead.
    assert await route("many", agents) == sorted([agents[1], agents[2]])
    assert await route("many", [agents[2]]) == [agents[2]]
    assert await route("many", [*users[:3], agents[3]]) == []  # users are not subscribed
    assert await route("many", []) == []
    assert await route("missing", agents) == []
    assert await agent_server.store.read(mq.takes_part, "few", agents[0], DEFAULT_SERVER)
    assert not await agent_server.store.read(mq.takes_part, "few", agents[4], DEFAULT_SERVER)
    assert not await agent_server.store.read(mq.takes_part, "few", agents[1], DEFAULT_SERVER)


# -- agents, end to end ----------------------------------------------------------------------


async def make_agent(client: Any, name: str) -> str:
    body = {"characterJson": {"name": name, "bio": [f"{name} is a test agent."],
                              "settings": {"respondInGroups": True}}}
    created = await send_json(client, "post", "/api/agents", body, 201)
    agent_id = str(created["data"]["id"])
    await send_json(client, "post", f"/api/agents/{agent_id}/start", None, 200)
    return agent_id


async def barrier(client: Any, agent: str = ELIZA_ID) -> None:
    """Once the agent answered a later DM, it has taken every earlier message routed to it
    (its inbox is in order)."""
    dm = await create_channel(client, [USER_ID, agent], type_="DM", name="barrier")
    await post(client, dm["id"], "are you there?")
    await replies(client, dm["id"], 1, author=agent)


async def answered(client: Any, channel_id: str) -> list[str]:
    """The ids of the user messages that got an agent reply."""
    return [m["inReplyToRootMessageId"] for m in reversed(await messages(client, channel_id))
            if m["sourceType"] == "agent_response"]


async def test_idle_agents_receive_nothing_of_other_channels(
    client: Any, agent_server: AgentServer
) -> None:
    idle = [await make_agent(client, f"Idle{i}") for i in range(3)]
    dm = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    for i in range(3):
        await post(client, dm["id"], f"hello {i}")
        await replies(client, dm["id"], i + 1)
    for agent in idle:
        runtime = agent_server.agents.runtime(agent)
        assert runtime is not None
        assert runtime.stats.turns == 0  # no message, stream chunk or completion reached it
    eliza = agent_server.agents.runtime(ELIZA_ID)
    assert eliza is not None
    # A reply is stored before its turn ends (the run is logged after it): once a later
    # message is answered, the three turns are over.
    await barrier(client)
    assert eliza.stats.turns >= 3
    assert agent_server.bus.statistics()["routed"] >= 6


async def test_an_agent_added_after_messages_flowed_starts_answering(client: Any) -> None:
    channel = await create_channel(client, [USER_ID], type_="DM")
    before = await post(client, channel["id"], "is anybody there?")
    await barrier(client)
    assert await answered(client, channel["id"]) == []
    await send_json(client, "post", f"/api/messaging/channels/{channel['id']}/agents",
                    {"agentId": ELIZA_ID}, 201)
    after = await post(client, channel["id"], "and now?")
    await replies(client, channel["id"], 1)
    await barrier(client)
    assert await answered(client, channel["id"]) == [after["id"]]
    assert before["id"] != after["id"]


async def test_a_removed_agent_stops_answering(client: Any) -> None:
    channel = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    first = await post(client, channel["id"], "hello")
    await replies(client, channel["id"], 1)
    response = await client.delete(
        f"/api/messaging/channels/{channel['id']}/agents/{ELIZA_ID}")
    assert response.status_code == 200
    await post(client, channel["id"], "still there?")
    await barrier(client)
    assert await answered(client, channel["id"]) == [first["id"]]


async def test_replaced_participants_route_to_the_new_list(client: Any) -> None:
    other = await make_agent(client, "Other")
    channel = await create_channel(client, [USER_ID, ELIZA_ID], type_="GROUP",
                                   name="replaced")
    url = f"/api/messaging/channels/{channel['id']}"
    first = await post(client, channel["id"], "Eliza, hello")
    await replies(client, channel["id"], 1, author=ELIZA_ID)
    await send_json(client, "patch", url, {"participantCentralUserIds": [USER_ID, other]})
    second = await post(client, channel["id"], "Eliza and Other, hello")
    await replies(client, channel["id"], 1, author=other)
    await barrier(client)
    got = [(m["authorId"], m["inReplyToRootMessageId"])
           for m in reversed(await messages(client, channel["id"]))
           if m["sourceType"] == "agent_response"]
    assert got == [(ELIZA_ID, first["id"]), (other, second["id"])]


async def test_a_deleted_channel_routes_nothing_to_its_old_agents(client: Any) -> None:
    channel = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    await post(client, channel["id"], "hello")
    await replies(client, channel["id"], 1)
    response = await client.delete(f"/api/messaging/channels/{channel['id']}")
    assert response.status_code == 204
    # Posting to the old id creates a new channel with only its author in it.
    await post(client, channel["id"], "hello again")
    await barrier(client)
    assert await answered(client, channel["id"]) == []


async def test_message_server_unsubscription_stops_and_resubscription_resumes(
    client: Any,
) -> None:
    created = await send_json(client, "post", "/api/messaging/message-servers",
                              {"name": "elsewhere", "sourceType": "test"}, 201)
    server_id = created["data"]["server"]["id"]
    agents_url = f"/api/messaging/message-servers/{server_id}/agents"
    await send_json(client, "post", agents_url, {"agentId": ELIZA_ID}, 201)
    channel = (await send_json(client, "post", "/api/messaging/channels", {
        "name": "elsewhere", "message_server_id": server_id,
        "participantCentralUserIds": [USER_ID, ELIZA_ID], "type": "DM"}, 201))["data"]
    first = await post(client, channel["id"], "one", message_server_id=server_id)
    await replies(client, channel["id"], 1)
    response = await client.delete(f"{agents_url}/{ELIZA_ID}")
    assert response.status_code == 200
    await post(client, channel["id"], "two", message_server_id=server_id)
    await barrier(client)
    assert await answered(client, channel["id"]) == [first["id"]]
    await send_json(client, "post", agents_url, {"agentId": ELIZA_ID}, 201)
    third = await post(client, channel["id"], "three", message_server_id=server_id)
    await replies(client, channel["id"], 2)
    assert await answered(client, channel["id"]) == [first["id"], third["id"]]


async def test_a_stopped_agent_is_unaddressed_and_a_restarted_one_answers(
    client: Any, agent_server: AgentServer
) -> None:
    other = await make_agent(client, "Restarted")
    channel = await create_channel(client, [USER_ID, other], type_="DM")
    assert other in agent_server.bus.addresses()
    await send_json(client, "post", f"/api/agents/{other}/stop", None, 200)
    assert other not in agent_server.bus.addresses()
    owed = await post(client, channel["id"], "while stopped")
    await send_json(client, "post", f"/api/agents/{other}/start", None, 200)
    later = await post(client, channel["id"], "after restart")
    await replies(client, channel["id"], 2)
    await barrier(client, other)
    # What it was owed while stopped is answered first, once; then the new message.
    assert await answered(client, channel["id"]) == [owed["id"], later["id"]]
    response = await client.delete(f"/api/agents/{other}")
    assert response.status_code == 204
    assert other not in agent_server.bus.addresses()
    await post(client, channel["id"], "after delete")  # routed to nobody, nothing raised
    await barrier(client)
    assert await answered(client, channel["id"]) == [owed["id"], later["id"]]


async def test_a_routed_message_is_checked_again_when_taken_in(
    client: Any, agent_server: AgentServer
) -> None:
    """An agent removed from the channel while the message waited in its inbox skips it:
    simulated by a route naming an agent that does not take part (any more)."""
    channel = await create_channel(client, [USER_ID], type_="DM")
    row = await agent_server.store.read(mq.get_channel, channel["id"])
    assert row is not None
    message = {"id": str(uuid.uuid4()), "channel_id": channel["id"],
               "message_server_id": DEFAULT_SERVER, "author_id": USER_ID,
               "content": "stale route", "source_type": "test", "raw_message": {},
               "metadata": {}, "created_at": 1}
    agent_server.bus.publish(NewMessage(message, route=MessageRoute(frozenset({ELIZA_ID}),
                                                                    row)))
    await barrier(client)
    assert await answered(client, channel["id"]) == []
    room = ids.create_unique_uuid(ELIZA_ID, channel["id"])
    rows = await agent_server.store.read(
        lambda db: list(db.query("SELECT id FROM memories WHERE room_id = ?", [room])))
    assert rows == []


async def test_plugin_listeners_still_see_the_message_only() -> None:
    event = new_message(route=MessageRoute(frozenset({ELIZA_ID}), {"id": "c1"}))
    assert event.to_dict() == {"message": event.message}
    assert event == NewMessage(event.message)  # the route is not part of the event's value
