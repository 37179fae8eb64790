"""Regression tests for the inputs a fuzzer found answering 500 (or worse, committing
garbage): each is now a 4xx envelope naming the field and the problem, and changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import make_settings, open_app
from eliza import ids
from eliza.settings import SettingsError
from tests.api.hostile import ok_json, refused, send_raw
from tests.memory.helpers import dm_turn
from tests.messaging.helpers import (
    DEFAULT_SERVER,
    ELIZA_ID,
    USER_ID,
    create_channel,
    messages,
    post,
    replies,
)

DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000


async def agent_names(client: Any) -> list[str]:
    body = await ok_json(await client.get("/api/agents"))
    return sorted(a["name"] for a in body["data"]["agents"])


# -- strict JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
async def test_deeply_nested_bodies_are_400_on_every_json_route(client: Any, raw: str) -> None:
    channel = await create_channel(client, [USER_ID])
    message = await post(client, channel["id"], "hello")
    for method, path in (
        ("POST", "/api/agents"),
        ("POST", f"/api/messaging/channels/{channel['id']}/messages"),
        ("PATCH", f"/api/messaging/messages/{message['id']}"),
        ("POST", "/api/messaging/messages/search"),
        ("POST", "/api/messaging/sessions"),
    ):
        error = await refused(await send_raw(client, method, path, raw),
                              code="VALIDATION_ERROR" if "sessions" in path else "BAD_REQUEST")
        assert "nested" in error["message"], error
    assert [m["id"] for m in await messages(client, channel["id"])] == [message["id"]]


async def test_a_lone_surrogate_is_refused_and_nothing_is_created(client: Any) -> None:
    before = await agent_names(client)
    raw = '{"characterJson": {"name": "\\ud800", "bio": ["b"]}}'
    error = await refused(await send_raw(client, "POST", "/api/agents", raw),
                          field="characterJson.name")
    assert "surrogate" in error["details"]["problem"]
    assert await agent_names(client) == before
    rooms_before = await ok_json(await client.get(f"/api/memory/{ELIZA_ID}/rooms"))
    await refused(await send_raw(client, "POST", f"/api/memory/{ELIZA_ID}/rooms",
                                 '{"name": "\\ud800"}'), field="name")
    await refused(await send_raw(client, "POST", f"/api/agents/{ELIZA_ID}/worlds",
                                 '{"name": "x\\udc00y"}'), field="name")
    assert await ok_json(await client.get(f"/api/memory/{ELIZA_ID}/rooms")) == rooms_before


async def test_a_surrogate_pair_is_a_character_not_an_error(client: Any) -> None:
    raw = '{"characterJson": {"name": "Smile \\ud83d\\ude00", "bio": ["b"]}}'
    await ok_json(await send_raw(client, "POST", "/api/agents", raw), 201)
    assert "Smile \U0001f600" in await agent_names(client)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers_are_refused_and_listings_stay_parseable(
    client: Any, constant: str
) -> None:
    channel = await create_channel(client, [USER_ID])
    raw = (f'{{"author_id": "{USER_ID}", "content": "hi", "message_server_id": '
           f'"{DEFAULT_SERVER}", "metadata": {{"x": {constant}}}}}')
    error = await refused(await send_raw(
        client, "POST", f"/api/messaging/channels/{channel['id']}/messages", raw))
    assert "finite" in error["details"]["problem"], error
    # The listing is empty and strict JSON (ok_json reads it as JSON.parse does).
    listing = await ok_json(await client.get(
        f"/api/messaging/channels/{channel['id']}/messages"))
    assert listing["data"]["messages"] == []


# -- query numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["99999999999999999999999", "NaN", "nan", "inf", "-inf",
                                   "Infinity", "1e308", "-1e308"])
async def test_huge_or_non_finite_query_numbers_are_400(client: Any, value: str) -> None:
    room = ids.new_uuid()
    channel = await create_channel(client, [USER_ID])
    for path, field in (
        (f"/api/agents/{ELIZA_ID}/runs?from={value}", "from"),
        (f"/api/agents/{ELIZA_ID}/runs?to={value}", "to"),
        (f"/api/memory/{ELIZA_ID}/rooms/{room}/memories?before={value}", "before"),
        (f"/api/messaging/channels/{channel['id']}/messages?before={value}", "before"),
        (f"/api/messaging/channels/{channel['id']}/messages?after={value}", "after"),
        (f"/api/messaging/channels/{channel['id']}/messages?limit={value}", "limit"),
        (f"/api/agents/{ELIZA_ID}/logs?offset={value}", "offset"),
    ):
        await refused(await client.get(path), field=field)


async def test_iso_dates_and_ms_cursors_still_work(client: Any) -> None:
    channel = await create_channel(client, [USER_ID])
    message = await post(client, channel["id"], "hello")
    for cursor in ("2999-01-01T00:00:00Z", "32503680000000", "32503680000000.5"):
        listing = await ok_json(await client.get(
            f"/api/messaging/channels/{channel['id']}/messages?before={cursor}"))
        assert [m["id"] for m in listing["data"]["messages"]] == [message["id"]]


# -- search ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "field"), [
    ({"query": "sad\u0000"}, "query"),
    ({"query": "sad", "offset": 10**30}, "offset"),
    ({"query": "sad", "limit": 10**30}, "limit"),
    ({"query": "sad", "threshold": 10**400}, "threshold"),
    ({"query": "sad", "channelId": ["x"]}, "channelId"),
])
async def test_hostile_search_bodies_are_400(client: Any, body: dict[str, Any],
                                             field: str) -> None:
    for path in (f"/api/memory/{ELIZA_ID}/memories/search", "/api/messaging/messages/search"):
        await refused(await client.post(path, json=body), field=field)


# -- rooms -------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel_id", [["x"], {"a": 1}, 10**30, "not-a-uuid"])
async def test_a_room_with_a_bad_channel_id_is_refused(client: Any, channel_id: Any) -> None:
    before = await ok_json(await client.get(f"/api/memory/{ELIZA_ID}/rooms"))
    error = await refused(await client.post(f"/api/memory/{ELIZA_ID}/rooms",
                                            json={"name": "r", "channelId": channel_id}),
                          code="INVALID_ID" if channel_id == "not-a-uuid" else "BAD_REQUEST",
                          field="channelId")
    assert error["details"]["problem"]
    assert await ok_json(await client.get(f"/api/memory/{ELIZA_ID}/rooms")) == before


# -- PATCH bodies: refused, and nothing written ------------------------------------------------


@pytest.mark.parametrize("metadata", [1.5, "text", [1, 2], True])
@pytest.mark.parametrize("route", ["messages", "action"])
async def test_a_patch_with_bad_metadata_writes_nothing(client: Any, metadata: Any,
                                                        route: str) -> None:
    channel = await create_channel(client, [USER_ID])
    message = await post(client, channel["id"], "a sad message", metadata={"keep": 1})
    error = await refused(await client.patch(f"/api/messaging/{route}/{message['id']}",
                                             json={"metadata": metadata}), field="metadata")
    assert error["details"]["problem"] == "must be an object"
    read = await ok_json(await client.get(f"/api/messaging/messages/{message['id']}"))
    assert read["data"]["metadata"] == message["metadata"]
    assert read["data"]["updatedAt"] == message["updatedAt"]
    assert [m["id"] for m in await messages(client, channel["id"])] == [message["id"]]
    found = await ok_json(await client.post("/api/messaging/messages/search", json={
        "query": "sad", "channelId": channel["id"], "mode": "text"}))
    assert [m["id"] for m in found["data"]["messages"]] == [message["id"]]


@pytest.mark.parametrize(("patch", "field"), [
    ({"content": 5}, "content"), ({"content": ""}, "content"),
    ({"source_type": {"a": 1}}, "source_type"), ({"raw_message": 7}, "raw_message"),
    ({"author_id": "nope"}, "author_id"),
])
async def test_a_patch_of_an_action_with_bad_fields_writes_nothing(
    client: Any, patch: dict[str, Any], field: str
) -> None:
    channel = await create_channel(client, [USER_ID])
    message = await post(client, channel["id"], "original")
    code = "INVALID_ID" if field == "author_id" else "BAD_REQUEST"
    await refused(await client.patch(f"/api/messaging/action/{message['id']}", json=patch),
                  code=code, field=field)
    read = await ok_json(await client.get(f"/api/messaging/messages/{message['id']}"))
    assert read["data"]["content"] == "original"
    assert read["data"]["sourceType"] == message["sourceType"]


@pytest.mark.parametrize(("patch", "field"), [
    ({"content": 5}, "content"), ({"content": "text"}, "content"),
    ({"content": None}, "content"), ({"createdAt": 10**30}, "createdAt"),
    ({"type": ["messages"]}, "type"), ({"unique": "yes"}, "unique"),
])
async def test_a_memory_patch_with_bad_fields_writes_nothing_and_turns_go_on(
    client: Any, patch: dict[str, Any], field: str
) -> None:
    turn = await dm_turn(client)
    path = f"/api/memory/{ELIZA_ID}/memories/{turn.message_id}"
    before = await ok_json(await client.get(
        f"/api/memory/{ELIZA_ID}/rooms/{turn.room_id}/memories"))
    await refused(await client.patch(path, json=patch), field=field)
    after = await ok_json(await client.get(
        f"/api/memory/{ELIZA_ID}/rooms/{turn.room_id}/memories"))
    assert after == before
    await post(client, turn.channel_id, "I still feel sad")
    assert len(await replies(client, turn.channel_id, 2)) == 2


# -- ids ---------------------------------------------------------------------------------------


async def test_an_upper_case_channel_id_is_the_same_channel(client: Any) -> None:
    channel = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM", name="dm")
    posted = await post(client, channel["id"].upper(), "I feel sad",
                        metadata={"isDm": True})
    assert posted["channelId"] == channel["id"]
    (reply,) = await replies(client, channel["id"], 1)
    assert reply["authorId"] == ELIZA_ID
    listing = await ok_json(await client.get(
        f"/api/messaging/channels/{channel['id'].upper()}/messages"))
    assert {m["channelId"] for m in listing["data"]["messages"]} == {channel["id"]}
    servers = await ok_json(await client.get(
        f"/api/messaging/message-servers/{DEFAULT_SERVER}/channels"))
    assert [c["id"] for c in servers["data"]["channels"]].count(channel["id"]) == 1


async def test_an_upper_case_agent_id_finds_the_agent(client: Any) -> None:
    body = await ok_json(await client.get(f"/api/agents/{ELIZA_ID.upper()}"))
    assert body["data"]["id"] == ELIZA_ID


# -- sizes -------------------------------------------------------------------------------------


async def test_a_megabyte_agent_name_is_refused(client: Any) -> None:
    before = await agent_names(client)
    response = await client.post("/api/agents", json={
        "characterJson": {"name": "n" * 1_000_000, "bio": ["b"]}})
    error = await refused(response, field="characterJson.name")
    assert "at most" in error["details"]["problem"]
    assert await agent_names(client) == before


async def test_an_oversized_message_is_refused(client: Any) -> None:
    channel = await create_channel(client, [USER_ID])
    response = await client.post(f"/api/messaging/channels/{channel['id']}/messages", json={
        "author_id": USER_ID, "content": "x" * 200_001})
    await refused(response, field="content")
    assert await messages(client, channel["id"]) == []


async def test_the_name_limit_is_a_setting(tmp_path: Path) -> None:
    async with open_app(make_settings(tmp_path, ELIZA_MAX_NAME_CHARS="8")) as app:
        client = app.test_client()
        error = await refused(await client.post(f"/api/memory/{ELIZA_ID}/rooms",
                                                json={"name": "nine char"}), field="name")
        assert error["details"]["problem"] == "must be at most 8 characters"
        await ok_json(await client.post(f"/api/memory/{ELIZA_ID}/rooms",
                                        json={"name": "eight ch"}), 201)
    with pytest.raises(SettingsError):
        make_settings(tmp_path, ELIZA_MAX_MESSAGE_CHARS="0")
