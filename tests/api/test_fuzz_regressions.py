"""Regression tests for what the fuzz suite (tests/fuzz) found answering 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eliza import ids
from tests.api.hostile import ok_json, refused
from tests.api.test_hostile_socket_and_crash import connect, next_event
from tests.memory.helpers import dm_turn
from tests.messaging.helpers import ELIZA_ID, USER_ID, create_channel, messages, post


async def test_an_action_patch_replying_to_an_unknown_message_is_not_a_500(client: Any) -> None:
    # The reply link is a foreign key: an unknown parent failed the write (500). As when
    # posting, the unknown parent is ignored and the rest of the patch applies.
    channel = await create_channel(client, [USER_ID])
    message = await post(client, channel["id"], "original")
    patched = await ok_json(await client.patch(f"/api/messaging/action/{message['id']}", json={
        "content": "edited", "in_reply_to_message_id": ids.new_uuid()}))
    assert patched["data"]["content"] == "edited"
    read = await ok_json(await client.get(f"/api/messaging/messages/{message['id']}"))
    assert read["data"]["content"] == "edited"
    assert not read["data"].get("inReplyToRootMessageId")
    parent = await post(client, channel["id"], "parent")
    await ok_json(await client.patch(f"/api/messaging/action/{message['id']}", json={
        "in_reply_to_message_id": parent["id"]}))
    read = await ok_json(await client.get(f"/api/messaging/messages/{message['id']}"))
    assert parent["id"] in (read["data"].get("inReplyToRootMessageId"),
                            read["data"].get("in_reply_to_root_message_id"))


@pytest.mark.parametrize("key", ["transport", "mode"])
@pytest.mark.parametrize("value", [["http"], {"a": 1}])
async def test_a_session_send_with_a_non_string_transport_is_a_400(client: Any, key: str,
                                                                   value: Any) -> None:
    # A list or object was looked up in a set of names: TypeError, a 500.
    session = await ok_json(await client.post("/api/messaging/sessions", json={
        "agentId": ELIZA_ID, "userId": USER_ID}), 201)
    path = f"/api/messaging/sessions/{session['sessionId']}/messages"
    await refused(await client.post(path, json={"content": "hello", key: value}),
                  code="VALIDATION_ERROR")
    listed = await ok_json(await client.get(path))
    assert listed["messages"] == []


async def test_an_upload_with_an_overlong_boundary_is_a_400(client: Any) -> None:
    # python-multipart refuses a boundary over 256 bytes by raising: it was a 500.
    boundary = "b" * 5000
    response = await client.post(
        f"/api/media/agents/{ELIZA_ID}/upload-media", data=f"--{boundary}--\r\n".encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    await refused(response, code="INVALID_CONTENT_TYPE")


async def test_a_memory_patch_moving_it_to_an_unknown_room_is_a_400(client: Any) -> None:
    # The memory's room is a foreign key: an unknown room failed the write (500).
    turn = await dm_turn(client)
    rooms = f"/api/memory/{ELIZA_ID}/rooms/{turn.room_id}/memories"
    before = await ok_json(await client.get(rooms))
    path = f"/api/memory/{ELIZA_ID}/memories/{before['data']['memories'][0]['id']}"
    await refused(await client.patch(path, json={"roomId": ids.new_uuid(),
                                                 "content": {"text": "moved"}}), field="roomId")
    assert await ok_json(await client.get(rooms)) == before
    await ok_json(await client.patch(path, json={"roomId": turn.room_id.upper()}))


async def test_a_socket_send_nested_deeper_than_a_rest_body_may_be_is_refused(
        client: Any) -> None:
    # REST refuses bodies nested over 64 levels; a socket send stored them.
    channel = await create_channel(client, [USER_ID])
    deep: Any = "x"
    for _ in range(100):
        deep = {"a": deep}
    url = await connect(client)
    packet = "42" + json.dumps(["2", {"channelId": channel["id"], "senderId": USER_ID,
                                      "message": "hello", "metadata": deep}])
    assert (await client.post(url, data=packet)).status_code == 200
    error = await next_event(client, url, "messageError")
    assert "nested" in error["error"]
    assert await messages(client, channel["id"]) == []
