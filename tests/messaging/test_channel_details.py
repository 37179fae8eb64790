"""A channel's details list its participants in `metadata.participantCentralUserIds`: the
api-client's addUserToChannel / removeUserFromChannel read that list, change it and PATCH
it back whole, so without it they dropped every other participant (the agents too)."""

from __future__ import annotations

from typing import Any

from eliza import ids

from .helpers import ELIZA_ID, USER_ID, create_channel, get_json, send_json


async def test_details_list_the_participants_the_client_writes_back(client: Any) -> None:
    channel = await create_channel(client, [USER_ID], metadata={"topic": "garden"})
    cid = channel["id"]
    await send_json(client, "post", f"/api/messaging/channels/{cid}/agents",
                    {"agentId": ELIZA_ID}, 201)
    details = (await get_json(client, f"/api/messaging/channels/{cid}/details"))["data"]
    assert details["metadata"]["topic"] == "garden"
    listed = details["metadata"]["participantCentralUserIds"]
    assert sorted(listed) == sorted([USER_ID, ELIZA_ID])

    # What addUserToChannel does with it: the list plus the new user, written back whole.
    newcomer = ids.new_uuid()
    await send_json(client, "patch", f"/api/messaging/channels/{cid}",
                    {"participantCentralUserIds": [*listed, newcomer]})
    members = (await get_json(client, f"/api/messaging/channels/{cid}/participants"))["data"]
    assert sorted(members) == sorted([USER_ID, ELIZA_ID, newcomer])
    again = (await get_json(client, f"/api/messaging/channels/{cid}/details"))["data"]
    assert sorted(again["metadata"]["participantCentralUserIds"]) == sorted(members)
