"""Deletes and clears reach the bus and the agents' memories; runs are logged and listed."""

from __future__ import annotations

from typing import Any

from eliza import ids
from eliza.bus import (
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    MessageComplete,
    MessageDeleted,
    MessageStreamChunk,
)
from eliza.server import AgentServer
from eliza.store import messaging as mq
from tests.polling import wait_until

from .helpers import (
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


async def _room_memories(agent_server: AgentServer, channel_id: str) -> list[str]:
    room = ids.create_unique_uuid(ELIZA_ID, channel_id)
    rows = await agent_server.store.read(lambda db: list(db.query(
        "SELECT id FROM memories WHERE agent_id = ? AND room_id = ?", [ELIZA_ID, room])))
    return [r["id"] for r in rows]


async def test_delete_clear_update_delete_reach_bus_and_agent(
    client: Any, agent_server: AgentServer
) -> None:
    channel = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    cid = channel["id"]
    with agent_server.bus.subscribe("test", {"message_deleted", "channel_cleared",
                                             "channel_updated", "channel_deleted",
                                             "message_complete", "message_stream_chunk"}) as sub:
        first = await post(client, cid, "I remember my dream")
        [reply] = await replies(client, cid, 1)
        assert len(await _room_memories(agent_server, cid)) == 2
        events = drain(sub)
        assert MessageComplete(channel_id=cid, message_server_id=ids.DEFAULT_SERVER_ID) in events
        chunks = [e for e in events if isinstance(e, MessageStreamChunk)]
        # The built-in model answers in one piece; a streaming model would chunk (below).
        assert all(c.message_id == reply["id"] for c in chunks)

        response = await client.delete(f"/api/messaging/channels/{cid}/messages/{first['id']}")
        assert response.status_code == 204
        assert drain(sub) == [MessageDeleted(message_id=first["id"], channel_id=cid)]
        await wait_until(lambda: _one_memory(agent_server, cid), message="memory deleted")
        assert [m["id"] for m in await messages(client, cid)] == [reply["id"]]

        # Clear removes ALL messages (ElizaOS removed only the latest 1000).
        def bulk(db: Any) -> None:
            for i in range(1100):
                mq.insert_message(db, {"id": ids.new_uuid(), "channel_id": cid,
                                       "author_id": USER_ID, "content": f"m{i}",
                                       "created_at": i + 1, "updated_at": i + 1})

        await agent_server.store.write(bulk)
        response = await client.delete(f"/api/messaging/central-channels/{cid}/messages")
        assert response.status_code == 204
        assert drain(sub) == [ChannelCleared(channel_id=cid)]
        assert await messages(client, cid) == []
        await wait_until(lambda: _no_memories(agent_server, cid),
                         message="room memories cleared")

        updated = await send_json(client, "patch", f"/api/messaging/channels/{cid}",
                                  {"name": "renamed", "metadata": {"topic": "dreams"}})
        assert updated["data"]["name"] == "renamed"
        assert updated["data"]["metadata"] == {"topic": "dreams"}
        [event] = drain(sub)
        assert isinstance(event, ChannelUpdated)
        assert event.updates["name"] == "renamed"

        response = await client.delete(f"/api/messaging/channels/{cid}")
        assert response.status_code == 204
        assert drain(sub) == [ChannelDeleted(channel_id=cid)]
    missing = await get_json(client, f"/api/messaging/channels/{cid}/details", 404)
    assert missing["error"]["code"] == "CHANNEL_NOT_FOUND"


async def _one_memory(agent_server: AgentServer, cid: str) -> bool:
    return len(await _room_memories(agent_server, cid)) == 1


async def _no_memories(agent_server: AgentServer, cid: str) -> bool:
    return not await _room_memories(agent_server, cid)


async def test_runs_are_logged_and_listed(client: Any) -> None:
    channel = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM")
    sent = await post(client, channel["id"], "I am happy")
    await replies(client, channel["id"], 1)

    async def completed() -> Any:
        body = await get_json(client, f"/api/agents/{ELIZA_ID}/runs")
        runs = body["data"]["runs"]
        return body["data"] if runs and runs[0]["status"] == "completed" else None

    data = await wait_until(completed, message="a completed run")
    assert data["total"] == 1
    assert data["hasMore"] is False
    [run] = data["runs"]
    assert run["messageId"] == sent["id"]
    assert run["roomId"] == ids.create_unique_uuid(ELIZA_ID, channel["id"])
    assert run["entityId"] == ids.create_unique_uuid(ELIZA_ID, USER_ID)
    assert run["counts"]["modelCalls"] == 1
    assert run["durationMs"] >= 0
    detail = await get_json(client, f"/api/agents/{ELIZA_ID}/runs/{run['runId']}")
    kinds = [e["type"] for e in detail["data"]["events"]]
    assert kinds == ["RUN_STARTED", "MODEL_USED", "RUN_ENDED"]
    assert detail["data"]["summary"]["status"] == "completed"
    filtered = await get_json(client, f"/api/agents/{ELIZA_ID}/runs?status=error")
    assert filtered["data"]["runs"] == []
    missing = await get_json(client, f"/api/agents/{ELIZA_ID}/runs/{ids.new_uuid()}", 404)
    assert missing["error"]["code"] == "NOT_FOUND"
    bad = await get_json(client, "/api/agents/not-a-uuid/runs", 400)
    assert bad["error"]["code"] == "INVALID_ID"
