"""The published `@elizaos/api-client` 1.7.2 messaging methods against a live server."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from conftest import run_node
from eliza import ids

pytestmark = pytest.mark.node  # the published client, run by node

ELIZA_ID = ids.string_to_uuid("Eliza")
USER_ID = "965189c0-221e-42f3-89eb-fb91df1f8fe8"


async def test_api_client_messaging_methods(live_server: Any) -> None:
    out = await trio.to_thread.run_sync(
        lambda: run_node("api_client_messaging.mjs", live_server.url, timeout=120)
    )
    assert out["current"] == {"messageServerId": ids.DEFAULT_SERVER_ID}
    assert ids.DEFAULT_SERVER_ID in [s["id"] for s in out["servers"]["messageServers"]]
    server_id = out["createdServer"]["server"]["id"]
    assert out["addAgentToServer"]["agentId"] == ELIZA_ID
    assert out["agentsForServer"] == {"messageServerId": server_id, "agents": [ELIZA_ID]}
    assert set(out["serversForAgent"]["messageServers"]) == {ids.DEFAULT_SERVER_ID, server_id}
    assert out["agentsAfterRemove"]["agents"] == []

    group = out["group"]
    assert group["type"] == "GROUP"
    assert group["messageServerId"] == ids.DEFAULT_SERVER_ID
    assert group["id"] in [c["id"] for c in out["serverChannels"]["channels"]]
    assert out["dm"]["type"] == "DM"
    assert out["dmAgain"]["id"] == out["dm"]["id"]
    assert out["details"]["id"] == group["id"]
    assert out["participants"] == [USER_ID, ELIZA_ID]
    assert out["participantsAfter"] == [USER_ID]

    posted = out["posted"]
    assert posted["authorId"] == USER_ID
    assert posted["content"] == "I feel anxious about my work"
    reply, first = out["listed"]
    assert first["id"] == posted["id"]
    assert reply["authorId"] == ELIZA_ID
    assert reply["inReplyToRootMessageId"] == posted["id"]
    assert out["submitted"]["authorId"] == ELIZA_ID
    assert out["completed"]["channelId"] == out["dm"]["id"]
    assert out["title"]["channelId"] == out["dm"]["id"]
    assert isinstance(out["title"]["title"], str)
    assert out["title"]["title"]
    assert out["deleteMessage"] == {"success": True}
    assert posted["id"] not in out["afterDelete"]
    assert out["updated"]["name"] == "renamed group"
    assert out["cleared"] == {"success": True}
    assert out["afterClear"] == []
    assert out["deleted"] == {"success": True}
    assert out["afterDeleteError"] == {"code": "CHANNEL_NOT_FOUND", "status": 404}
