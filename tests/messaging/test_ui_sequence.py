"""The requests the web UI (`@elizaos/client` 1.7.2) makes when a user chats with the default
agent, over REST."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.polling import wait_until

from .helpers import (
    DEFAULT_SERVER,
    ELIZA_ID,
    USER_ID,
    get_json,
    messages,
    post,
    replies,
    send_json,
)

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _dm_body() -> dict[str, Any]:
    # What the web UI sends when a chat with an agent opens (createGroupChannel).
    return {
        "name": "Chat with Eliza",
        "message_server_id": DEFAULT_SERVER,
        "participantCentralUserIds": [USER_ID, ELIZA_ID],
        "type": "DM",
        "metadata": {"isDm": True, "user1": USER_ID, "user2": ELIZA_ID, "forAgent": ELIZA_ID,
                     "createdAt": "2025-01-01T00:00:00.000Z"},
    }


async def test_ui_chat_sequence_in_process(client: Any) -> None:
    current = await get_json(client, "/api/messaging/message-server/current")
    assert current == {"success": True, "data": {"messageServerId": DEFAULT_SERVER}}
    agents = (await get_json(client, "/api/agents"))["data"]["agents"]
    assert [a["id"] for a in agents] == [ELIZA_ID]
    servers = await get_json(client, "/api/messaging/message-servers")
    assert [s["id"] for s in servers["data"]["messageServers"]] == [DEFAULT_SERVER]

    created = await send_json(client, "post", "/api/messaging/channels", _dm_body(), 201)
    channel = created["data"]
    assert {"id", "messageServerId", "name", "type", "metadata", "createdAt",
            "updatedAt"} <= channel.keys()
    assert channel["type"] == "DM"
    assert channel["metadata"]["isDm"] is True
    listed = await get_json(client, f"/api/messaging/message-servers/{DEFAULT_SERVER}/channels")
    assert channel["id"] in [c["id"] for c in listed["data"]["channels"]]
    assert await messages(client, channel["id"]) == []

    # The api-client's postMessage sends no author_id: X-Entity-Id names the author.
    response = await client.post(
        f"/api/messaging/channels/{channel['id']}/messages",
        json={"content": "I am feeling sad about my mother", "metadata": {}},
        headers={"X-Entity-Id": USER_ID},
    )
    assert response.status_code == 201
    answer = await response.get_json()
    assert answer["success"] is True
    user_msg = answer["data"]
    assert answer["userMessage"] == user_msg
    assert user_msg["authorId"] == USER_ID
    assert user_msg["channelId"] == channel["id"]

    [reply] = await replies(client, channel["id"], 1)
    assert reply["authorId"] == ELIZA_ID
    assert reply["inReplyToRootMessageId"] == user_msg["id"]
    assert reply["metadata"]["agentName"] == "Eliza"
    # The DOCTOR script answers "mother" with a family rule.
    assert reply["content"]
    assert reply["content"] != user_msg["content"]
    assert re.search(r"family|mother", reply["content"], re.I), reply["content"]

    both = await messages(client, channel["id"])
    assert [m["id"] for m in both] == [reply["id"], user_msg["id"]]  # newest first
    for m in both:
        assert ISO.match(m["createdAt"])
        assert isinstance(m["created_at"], int)
    participants = await get_json(client, f"/api/messaging/channels/{channel['id']}/participants")
    assert participants["data"] == [USER_ID, ELIZA_ID]


async def test_ui_chat_sequence_live(live_server: Any) -> None:
    """The same walk against a real hypercorn process, with the default agent's reply."""
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as http:
        current = (await http.get("/api/messaging/message-server/current")).json()
        assert current["data"]["messageServerId"] == DEFAULT_SERVER
        created = await http.post("/api/messaging/channels", json=_dm_body())
        assert created.status_code == 201, created.text
        channel_id = created.json()["data"]["id"]
        sent = await http.post(f"/api/messaging/channels/{channel_id}/messages",
                               json={"content": "Hello there", "metadata": {}},
                               headers={"X-Entity-Id": USER_ID})
        assert sent.status_code == 201, sent.text
        user_msg = sent.json()["data"]
        post_url = f"/api/messaging/channels/{channel_id}/messages?limit=30"

        async def both_listed() -> list[dict[str, Any]] | None:
            listed: list[dict[str, Any]] = (await http.get(post_url)).json()["data"]["messages"]
            return listed if len(listed) >= 2 else None

        listed = await wait_until(both_listed, message="the message and its reply listed")
        assert len(listed) == 2, listed
        reply, first = listed
        assert first["id"] == user_msg["id"]
        assert reply["authorId"] == ELIZA_ID
        assert reply["sourceType"] == "agent_response"
        assert reply["inReplyToRootMessageId"] == user_msg["id"]
        assert reply["content"].strip()


async def test_post_with_author_field_and_http_transport(client: Any) -> None:
    created = await send_json(client, "post", "/api/messaging/channels", _dm_body(), 201)
    channel_id = created["data"]["id"]
    answer = await send_json(
        client, "post", f"/api/messaging/channels/{channel_id}/messages",
        {"author_id": USER_ID, "content": "I need some help", "message_server_id": DEFAULT_SERVER,
         "transport": "http"}, 201,
    )
    assert answer["agentResponse"]["authorId"] == ELIZA_ID
    assert answer["agentResponse"]["inReplyToRootMessageId"] == answer["data"]["id"]
    first = await post(client, channel_id, "and again")
    assert first["authorId"] == USER_ID
