"""An agent answers, when it starts, the messages it was owed while it was stopped (they were
stored and acknowledged with 201), once each, in order; not a backlog of its first start."""

from __future__ import annotations

from typing import Any

from eliza.server import AgentServer

from ..messaging.helpers import ELIZA_ID, USER_ID, create_channel, messages, post, replies


async def _stop(client: Any, agent_id: str) -> None:
    response = await client.post(f"/api/agents/{agent_id}/stop")
    assert response.status_code == 200, await response.get_data(as_text=True)


async def _start(client: Any, agent_id: str) -> None:
    response = await client.post(f"/api/agents/{agent_id}/start")
    assert response.status_code == 200, await response.get_data(as_text=True)


async def test_messages_posted_while_stopped_are_answered_on_start(
    client: Any, agent_server: AgentServer
) -> None:
    dm = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    await post(client, dm["id"], "Hello there")
    await replies(client, dm["id"], 1)
    await _stop(client, ELIZA_ID)
    first = await post(client, dm["id"], "I am worried about my exams")
    second = await post(client, dm["id"], "My mother says I work too hard")
    assert len(await replies(client, dm["id"], 1)) == 1  # nobody answers a stopped agent's DM
    await _start(client, ELIZA_ID)
    answers = await replies(client, dm["id"], 3)
    assert [a["inReplyToRootMessageId"] for a in answers[1:]] == [first["id"], second["id"]]
    # Starting again owes nothing more: no second answer to the same messages.
    await _stop(client, ELIZA_ID)
    await _start(client, ELIZA_ID)
    await post(client, dm["id"], "Are you still there?")
    answers = await replies(client, dm["id"], 4)
    replied_to = [a["inReplyToRootMessageId"] for a in answers]
    assert len(replied_to) == len(set(replied_to)) == 4


async def test_an_agent_new_to_a_channel_does_not_answer_its_history(
    client: Any, agent_server: AgentServer
) -> None:
    dm = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    await post(client, dm["id"], "Hello")
    await replies(client, dm["id"], 1)  # the agent has memories: it could owe something
    group = await create_channel(client, [USER_ID], type_="DM")
    await post(client, group["id"], "before anyone listened")
    response = await client.post(f"/api/messaging/channels/{group['id']}/agents",
                                 json={"agentId": ELIZA_ID})
    assert response.status_code == 201
    await _stop(client, ELIZA_ID)
    await _start(client, ELIZA_ID)
    later = await post(client, group["id"], "and now?")
    [answer] = await replies(client, group["id"], 1)
    assert answer["inReplyToRootMessageId"] == later["id"]
    assert len(await messages(client, group["id"])) == 3
