"""REST details: 1.5 aliases and keys, cursors, limits, errors, core routes, streaming."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from eliza import ids
from eliza.bus import MessageComplete, MessageStreamChunk, NewMessage
from eliza.runtime.models import ModelProvider, ModelRegistry, ModelType
from eliza.server import AgentServer
from eliza.store import messaging as mq

from .helpers import (
    DEFAULT_SERVER,
    ELIZA_ID,
    USER_ID,
    create_channel,
    drain,
    get_json,
    messages,
    post,
    replies,
    send_json,
)


async def test_v15_aliases_answer_with_their_keys(client: Any) -> None:
    for path in ("/api/messaging/central-servers", "/api/messaging/servers"):
        body = await get_json(client, path)
        assert [s["id"] for s in body["data"]["servers"]] == [DEFAULT_SERVER]
    agents = await get_json(client, f"/api/messaging/servers/{DEFAULT_SERVER}/agents")
    assert agents["data"] == {"serverId": DEFAULT_SERVER, "agents": [ELIZA_ID]}
    mine = await get_json(client, f"/api/messaging/agents/{ELIZA_ID}/servers")
    assert mine["data"] == {"agentId": ELIZA_ID, "servers": [DEFAULT_SERVER]}
    created = await send_json(client, "post", "/api/messaging/central-channels", {
        "name": "old style", "serverId": DEFAULT_SERVER, "type": "GROUP"}, 201)
    cid = created["data"]["id"]
    assert created["data"]["messageServerId"] == DEFAULT_SERVER
    await send_json(client, "post", f"/api/messaging/central-channels/{cid}/agents",
                    {"agentId": ELIZA_ID}, 201)
    listed = await get_json(client, f"/api/messaging/central-channels/{cid}/agents")
    assert listed["data"] == {"channelId": cid, "participants": [ELIZA_ID]}
    sent = await send_json(client, "post", f"/api/messaging/central-channels/{cid}/messages", {
        "author_id": USER_ID, "content": "hi Eliza", "server_id": DEFAULT_SERVER}, 201)
    assert sent["data"]["server_id"] == DEFAULT_SERVER
    assert sent["data"]["channel_id"] == cid
    await replies(client, cid, 1)


async def test_cursors_accept_ms_and_iso_and_limit_1000(
    client: Any, agent_server: AgentServer
) -> None:
    channel = await create_channel(client, [USER_ID])
    cid = channel["id"]

    def bulk(db: Any) -> None:
        for i in range(1200):
            t = 1_700_000_000_000 + i * 1000
            mq.insert_message(db, {"id": ids.new_uuid(), "channel_id": cid, "author_id": USER_ID,
                                   "content": f"m{i}", "created_at": t, "updated_at": t})

    await agent_server.store.write(bulk)
    assert len(await messages(client, cid, limit=1000)) == 1000
    pivot = 1_700_000_000_000 + 100 * 1000
    iso = datetime.fromtimestamp(pivot / 1000, UTC).isoformat().replace("+00:00", "Z")
    base = f"/api/messaging/channels/{cid}/messages"
    for value in (str(pivot), iso):
        older = (await get_json(client, f"{base}?before={value}&limit=5"))["data"]["messages"]
        assert [m["content"] for m in older] == ["m99", "m98", "m97", "m96", "m95"]
        newer = (await get_json(client, f"{base}?after={value}&limit=2000"))["data"]["messages"]
        assert newer[-1]["content"] == "m101"
        assert len(newer) == 1000  # capped at 1000
    bad = await get_json(client, f"{base}?before=yesterday", 400)
    assert bad["error"]["code"] == "BAD_REQUEST"


async def test_errors_use_the_envelope_with_stable_codes(client: Any) -> None:
    cases = [
        ("get", "/api/messaging/channels/nope/details", 400, "INVALID_ID"),
        ("get", f"/api/messaging/channels/{ids.new_uuid()}/details", 404, "CHANNEL_NOT_FOUND"),
        ("get", f"/api/messaging/channels/{ids.new_uuid()}/participants", 404,
         "CHANNEL_NOT_FOUND"),
        ("delete", f"/api/messaging/channels/{ids.new_uuid()}", 404, "CHANNEL_NOT_FOUND"),
        ("get", f"/api/messaging/messages/{ids.new_uuid()}", 404, "NOT_FOUND"),
    ]
    for method, path, status, code in cases:
        response = await getattr(client, method)(path)
        body = await response.get_json()
        assert (response.status_code, body["success"], body["error"]["code"]) == (
            status, False, code), path
    channel = await create_channel(client, [USER_ID])
    url = f"/api/messaging/channels/{channel['id']}"
    for body, status, code in [
        ({"content": "no author"}, 400, "BAD_REQUEST"),
        ({"author_id": "x", "content": "bad author"}, 400, "INVALID_ID"),
        ({"author_id": USER_ID, "content": ""}, 400, "BAD_REQUEST"),
    ]:
        answer = await send_json(client, "post", f"{url}/messages", body, status)
        assert answer["error"]["code"] == code
    answer = await send_json(client, "post", f"{url}/agents", {"agentId": ids.new_uuid()}, 404)
    assert answer["error"]["code"] == "AGENT_NOT_FOUND"
    answer = await send_json(client, "post", "/api/messaging/channels",
                             {"name": "x", "participantCentralUserIds": ["nope"]}, 400)
    assert answer["error"]["code"] == "INVALID_ID"
    response = await client.post("/api/messaging/channels", data=b"{bad json",
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    answer = await send_json(client, "get", "/api/messaging/dm-channel"
                             f"?currentUserId={USER_ID}&targetUserId={USER_ID}", None, 400)
    assert answer["error"]["code"] == "BAD_REQUEST"


async def test_core_routes(client: Any, agent_server: AgentServer) -> None:
    channel = await create_channel(client, [USER_ID])
    cid = channel["id"]
    with agent_server.bus.subscribe("test", {"message_complete", "new_message"}) as sub:
        submitted = await send_json(client, "post", "/api/messaging/submit", {
            "channel_id": cid, "server_id": DEFAULT_SERVER, "author_id": ELIZA_ID,
            "content": "agent says", "source_type": "agent_response",
            "raw_message": {"text": "agent says", "thought": "hm"}}, 201)
        assert submitted["data"]["authorId"] == ELIZA_ID
        [event] = drain(sub)
        assert isinstance(event, NewMessage)
        assert event.message["message_server_id"] == event.message["server_id"] == DEFAULT_SERVER
        done = await send_json(client, "post", "/api/messaging/complete",
                               {"channel_id": cid, "server_id": DEFAULT_SERVER})
        assert done["message"] == "Message completion notification sent"
        assert drain(sub) == [MessageComplete(channel_id=cid, message_server_id=DEFAULT_SERVER)]
    action_id = ids.new_uuid()
    action = await send_json(client, "post", "/api/messaging/action", {
        "channel_id": cid, "server_id": DEFAULT_SERVER, "author_id": ELIZA_ID,
        "content": "working", "messageId": action_id}, 201)
    assert action["data"]["id"] == action_id
    assert action["data"]["sourceType"] == "agent_action"
    patched = await send_json(client, "patch", f"/api/messaging/action/{action_id}",
                              {"content": "done"})
    assert patched["data"]["content"] == "done"
    ingested = await send_json(client, "post", "/api/messaging/ingest-external", {
        "channel_id": cid, "server_id": DEFAULT_SERVER, "author_id": "discord-user-7",
        "content": "from outside", "author_display_name": "Sam"}, 202)
    stored = await get_json(client, f"/api/messaging/messages/{ingested['data']['messageId']}")
    assert stored["data"]["authorId"] == ids.string_to_uuid("discord-user-7")
    assert (await messages(client, cid))[0]["content"] == "from outside"
    url = f"/api/messaging/channels/{cid}/generate-title"
    early = await send_json(client, "post", url, {"agentId": ELIZA_ID})
    assert early["data"] == {"title": None, "channelId": cid,
                             "reason": "Not enough messages to generate a title"}
    await post(client, cid, "planning the garden party for saturday")
    title = await send_json(client, "post", url, {"agentId": ELIZA_ID})
    assert title["data"]["channelId"] == cid
    assert title["data"]["title"] == "from outside"  # ELIZA: first user message


async def test_streaming_model_chunks_share_the_reply_id(
    client: Any, agent_server: AgentServer
) -> None:
    async def streaming(runtime: Any, params: dict[str, Any]) -> AsyncIterator[str]:
        async def chunks() -> AsyncIterator[str]:
            for part in ("Hello ", "from ", "a stream"):
                yield part
        return chunks()

    runtime = agent_server.agents.runtime(ELIZA_ID)
    assert runtime is not None
    runtime.models = ModelRegistry([ModelProvider(ModelType.TEXT_LARGE, streaming, 10)])
    channel = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    with agent_server.bus.subscribe("test", {"message_stream_chunk"}) as sub:
        sent = await post(client, channel["id"], "stream please")
        [reply] = await replies(client, channel["id"], 1)
        chunks = drain(sub)
    assert reply["content"] == "Hello from a stream"
    assert reply["inReplyToRootMessageId"] == sent["id"]
    assert chunks == [MessageStreamChunk(message_id=reply["id"], channel_id=channel["id"],
                                         agent_id=ELIZA_ID, chunk=c, index=i,
                                         in_reply_to=sent["id"])
                      for i, c in enumerate(("Hello ", "from ", "a stream"))]
