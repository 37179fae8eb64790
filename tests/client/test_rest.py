"""`ElizaClient` round-trips every domain method against a live server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import trio

from eliza.client import DEFAULT_SERVER_ID, ElizaApiError, ElizaClient
from eliza.runtime.doctor import Doctor

from .conftest import USER_ID

PROBE = {"name": "Probe", "bio": ["A test agent."], "plugins": []}


async def test_agents_crud_and_lifecycle(live_server: Any) -> None:
    async with ElizaClient(live_server.url) as client:
        agents = await client.agents.list()
        assert [a["name"] for a in agents] == ["Eliza"]
        eliza = await client.agents.find()  # the first active agent
        assert eliza["name"] == "Eliza"
        assert eliza["status"] == "active"
        assert (await client.agents.find("eliza"))["id"] == eliza["id"]
        assert (await client.agents.find(eliza["id"].upper()))["id"] == eliza["id"]
        full = await client.agents.get(eliza["id"])
        assert full["id"] == eliza["id"]
        assert full["name"] == "Eliza"

        created = await client.agents.create(PROBE)
        probe_id = created["id"]
        assert created["character"]["name"] == "Probe"
        updated = await client.agents.update(probe_id, {"bio": ["Updated bio."]})
        assert updated["bio"] == ["Updated bio."]
        started = await client.agents.start(probe_id)
        assert started == {"id": probe_id, "name": "Probe", "status": "active"}
        assert (await client.agents.get(probe_id))["status"] == "active"
        assert (await client.agents.stop(probe_id)) == {"message": "Agent stopped"}
        assert (await client.agents.get(probe_id))["status"] != "active"
        with pytest.raises(ElizaApiError) as not_running:
            await client.agents.stop(probe_id)
        assert (not_running.value.code, not_running.value.status) == ("AGENT_NOT_RUNNING", 404)
        assert (await client.agents.start(probe_id))["status"] == "active"
        logs = await client.agents.logs(probe_id)
        assert any("Probe" in entry["msg"] for entry in logs)
        assert isinstance(await client.agents.message_servers(probe_id), list)
        await client.agents.delete(probe_id)
        with pytest.raises(ElizaApiError) as gone:
            await client.agents.get(probe_id)
        assert gone.value.status == 404
        with pytest.raises(ElizaApiError) as missing:
            await client.agents.find("nobody")
        assert missing.value.code == "AGENT_NOT_FOUND"
        with pytest.raises(ValueError, match="exactly one"):
            await client.agents.create()


async def test_messaging_round_trip(live_server: Any) -> None:
    doctor = Doctor()
    async with ElizaClient(live_server.url) as client:
        eliza = await client.agents.find("Eliza")
        assert await client.messaging.current_server() == DEFAULT_SERVER_ID
        assert DEFAULT_SERVER_ID in [s["id"] for s in await client.messaging.list_servers()]
        assert eliza["id"] in await client.messaging.server_agents()

        dm = await client.messaging.dm_channel(USER_ID, eliza["id"])
        assert dm["type"] == "DM"
        assert (await client.messaging.dm_channel(USER_ID, eliza["id"]))["id"] == dm["id"]
        assert (await client.messaging.channel_details(dm["id"]))["id"] == dm["id"]
        assert dm["id"] in [c["id"] for c in await client.messaging.server_channels()]
        assert set(await client.messaging.participants(dm["id"])) >= {USER_ID, eliza["id"]}

        posted = await client.messaging.post_message(dm["id"], "Men are all alike.",
                                                     author_id=USER_ID)
        assert posted.message["content"] == "Men are all alike."
        assert posted.agent_response is None
        reply = await client.messaging.wait_for_reply(dm["id"], posted.message)
        assert reply["content"] == doctor.respond("Men are all alike.") == "In what way?"
        assert reply["authorId"] == eliza["id"]

        waited = await client.messaging.post_message(
            dm["id"], "They're always bugging us about something or other.",
            author_id=USER_ID, wait=True)
        assert waited.agent_response is not None
        assert waited.agent_response["content"] == doctor.respond(
            "They're always bugging us about something or other.")

        title = await client.messaging.generate_title(dm["id"], eliza["id"])
        assert title["channelId"] == dm["id"]
        assert title["title"]
        history = await client.messaging.messages(dm["id"], limit=10)
        assert [m["content"] for m in history][::-1][:2] == ["Men are all alike.",
                                                             "In what way?"]
        assert len(await client.messaging.messages(dm["id"], limit=1)) == 1
        first = history[-1]
        assert [m["id"] for m in await client.messaging.messages(
            dm["id"], before=first["created_at"])] == []
        later = await client.messaging.messages(
            dm["id"], after=datetime.fromtimestamp(first["created_at"] / 1000, UTC))
        assert first["id"] not in [m["id"] for m in later]
        assert len(later) == 3

        fetched = await client.messaging.get_message(first["id"])
        assert fetched["content"] == "Men are all alike."
        edited = await client.messaging.update_message(first["id"], "Men are alike.")
        assert edited["content"] == "Men are alike."
        await client.messaging.delete_message(dm["id"], first["id"])
        assert first["id"] not in [m["id"] for m in await client.messaging.messages(dm["id"])]
        await client.messaging.clear_channel(dm["id"])
        assert await client.messaging.messages(dm["id"]) == []


async def test_group_channels_submit_and_complete(live_server: Any) -> None:
    async with ElizaClient(live_server.url) as client:
        eliza = await client.agents.find()
        group = await client.messaging.create_group_channel("sdk group", [USER_ID],
                                                            metadata={"k": "v"})
        assert group["type"] == "GROUP"
        assert group["metadata"]["k"] == "v"
        plain = await client.messaging.create_channel("plain", participants=[USER_ID])
        assert plain["name"] == "plain"
        added = await client.messaging.add_agent(group["id"], eliza["id"])
        assert added["agentId"] == eliza["id"]
        assert eliza["id"] in await client.messaging.participants(group["id"])
        renamed = await client.messaging.update_channel(group["id"], name="renamed",
                                                        metadata={"k": "w"})
        assert renamed["name"] == "renamed"
        submitted = await client.messaging.submit(group["id"], eliza["id"], "Hello from Eliza")
        assert submitted["content"] == "Hello from Eliza"
        assert submitted["sourceType"] == "agent_response"
        done = await client.messaging.complete(group["id"])
        assert done["channelId"] == group["id"]
        assert (await client.messaging.complete(message_id=submitted["id"]))["channelId"] \
            == group["id"]
        await client.messaging.remove_agent(group["id"], eliza["id"])
        assert eliza["id"] not in await client.messaging.participants(group["id"])
        await client.messaging.delete_channel(group["id"])
        await client.messaging.delete_channel(plain["id"])
        with pytest.raises(ElizaApiError) as gone:
            await client.messaging.channel_details(group["id"])
        assert gone.value.status == 404


async def test_sessions(live_server: Any) -> None:
    async with ElizaClient(live_server.url) as client:
        health = await client.sessions.health()
        assert health["status"] == "healthy"
        eliza = await client.agents.find()
        session = await client.sessions.create(eliza["id"], USER_ID, metadata={"from": "sdk"})
        sid = session["sessionId"]
        assert (await client.sessions.get(sid))["sessionId"] == sid
        sent = await client.sessions.send(sid, "Men are all alike.", transport="http")
        assert sent["agentResponse"]["text"] == "In what way?"
        plain = await client.sessions.send(sid, "Hello", metadata={"x": 1})
        assert plain["userMessage"]["content"] == "Hello"
        page = await client.sessions.messages(sid, limit=10)
        assert [m["content"] for m in page["messages"]][-2:] == ["In what way?",
                                                                  "Men are all alike."]
        assert (await client.sessions.messages(sid, limit=1))["hasMore"] is True
        oldest = page["cursors"]["before"]
        assert (await client.sessions.messages(sid, before=oldest))["messages"] == []
        assert (await client.sessions.renew(sid))["sessionId"] == sid
        assert (await client.sessions.heartbeat(sid))["sessionId"] == sid
        assert sid in [s["sessionId"] for s in (await client.sessions.list())["sessions"]]
        await client.sessions.delete(sid)
        with pytest.raises(ElizaApiError) as gone:
            await client.sessions.get(sid)
        assert (gone.value.code, gone.value.status) == ("SESSION_NOT_FOUND", 404)
        with pytest.raises(ElizaApiError) as invalid:
            await client.sessions.create("not-a-uuid", USER_ID)
        assert (invalid.value.code, invalid.value.status) == ("VALIDATION_ERROR", 400)


async def test_server_and_system(live_server: Any) -> None:
    async with ElizaClient(live_server.url) as client:
        assert (await client.server.ping())["pong"] is True
        assert (await client.server.hello()) == {"message": "Hello World!"}
        assert (await client.server.status())["agentCount"] == 1
        assert (await client.server.health())["status"] == "OK"
        page = await client.server.submit_logs([{"msg": "sdk says hi", "level": "warn"}])
        assert page["logs"][-1]["msg"] == "sdk says hi"
        warn = await client.server.logs(level="warn")
        assert [e["msg"] for e in warn["logs"]] == ["sdk says hi"]
        assert (await client.server.clear_logs())["status"] == "success"
        assert "sdk says hi" not in [e["msg"] for e in (await client.server.logs())["logs"]]
        assert (await client.server.debug_servers())["count"] >= 1
        assert (await client.system.version())["version"]
        assert await client.system.env() == {}
        assert (await client.system.update_env({"SDK_KEY": "value 1"}))["updated"] == [
            "SDK_KEY"]
        assert (await client.system.env())["SDK_KEY"] == "value 1"
        eliza = await client.agents.find()
        await client.agents.stop(eliza["id"])
        with pytest.raises(ElizaApiError) as degraded:
            await client.server.health()  # 503 without agents, as the original
        assert degraded.value.status == 503


async def test_errors_raise_eliza_api_error(live_server_factory: Any) -> None:
    server = live_server_factory(ELIZA_SERVER_AUTH_TOKEN="s3cret")
    async with ElizaClient(server.url, api_key="s3cret") as client:
        with pytest.raises(ElizaApiError) as bad_id:
            await client.agents.get("not-a-uuid")
        assert (bad_id.value.code, bad_id.value.status) == ("INVALID_ID", 400)
        assert bad_id.value.message == "Invalid agent ID format"
        with pytest.raises(ElizaApiError) as unknown:
            await client.request("GET", "/api/no/such/route")
        assert (unknown.value.code, unknown.value.status) == ("NOT_FOUND", 404)
        assert (await client.agents.list())[0]["name"] == "Eliza"
    async with ElizaClient(server.url) as anonymous:
        with pytest.raises(ElizaApiError) as denied:
            await anonymous.agents.list()
        assert denied.value.status == 401
    async with ElizaClient("http://127.0.0.1:9", timeout=2) as nowhere:
        with pytest.raises(ElizaApiError) as network:
            await nowhere.server.ping()
        assert network.value.code == "NETWORK_ERROR"
        assert network.value.status is None


async def test_unwrapping_rules() -> None:
    """The api-client's rules for the shapes a live server rarely sends (a mock transport)."""

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/empty":
            return httpx.Response(204)
        if path == "/text-error":
            return httpx.Response(502, text="<html>bad gateway</html>")
        if path == "/text-ok":
            return httpx.Response(200, text="fine")
        if path == "/string-error":
            return httpx.Response(401, json={"error": "API key required", "message": "Missing"})
        if path == "/no-code":
            return httpx.Response(500, json={"oops": True})
        if path == "/soft-failure":
            return httpx.Response(200, json={"success": False,
                                             "error": {"code": "X", "message": "m",
                                                       "details": "d"}})
        if path == "/no-data":
            return httpx.Response(201, json={"success": True, "userMessage": {"id": "1"}})
        if path == "/slow":
            raise httpx.ReadTimeout("slow", request=request)
        assert request.headers["X-API-KEY"] == "k"
        return httpx.Response(200, json={"success": True, "data": {"echo": json.loads(
            request.content or b"null")}})

    async with ElizaClient("http://sdk.test/", api_key="k",
                           transport=httpx.MockTransport(answer)) as client:
        assert client.base_url == "http://sdk.test"
        await client.request("GET", "/empty")
        await client.request("GET", "/text-ok")
        assert await client.request("POST", "/data", json_body={"a": 1}) == {"echo": {"a": 1}}
        assert await client.request("POST", "/no-data") == {"success": True,
                                                            "userMessage": {"id": "1"}}
        expected = {"/text-error": ("PARSE_ERROR", 502, None),
                    "/string-error": ("HTTP_ERROR", 401, "Missing"),
                    "/no-code": ("HTTP_ERROR", 500, None),
                    "/soft-failure": ("X", 200, "d"),
                    "/slow": ("TIMEOUT", None, None)}
        for path, (code, status, details) in expected.items():
            with pytest.raises(ElizaApiError) as caught:
                await client.request("GET", path)
            assert (caught.value.code, caught.value.status) == (code, status), path
            if details is not None:
                assert caught.value.details == details
        await trio.lowlevel.checkpoint()


async def test_search_messages_and_memories(live_server: Any) -> None:
    async with ElizaClient(live_server.url) as client:
        eliza = await client.agents.find("Eliza")
        channel = await client.messaging.dm_channel(USER_ID, eliza["id"])
        posted = await client.messaging.post_message(
            channel["id"], "My grandmother knitted a purple scarf", author_id=USER_ID,
            wait=True)
        other = await client.messaging.post_message(
            channel["id"], "The purple sunset over the harbour", author_id=USER_ID, wait=True)
        # Eliza echoes ("Your grandmother knitted..."): authorId keeps the user's own words.
        hits = await client.messaging.search("scarf", channel_id=channel["id"],
                                             author_id=USER_ID)
        assert [m["id"] for m in hits] == [posted.message["id"]]
        assert hits[0]["score"] > 0
        both = await client.messaging.search("purple", mode="text", author_id=USER_ID,
                                             since=posted.message["created_at"])
        assert {m["id"] for m in both} == {posted.message["id"], other.message["id"]}
        later = await client.messaging.search("purple", mode="text", author_id=USER_ID,
                                              since=other.message["created_at"])
        assert [m["id"] for m in later] == [other.message["id"]]
        # Eliza has no embedding model: auto is text search, semantic is refused.
        memories = await client.agents.search_memories(eliza["id"], "scarf",
                                                       channel_id=channel["id"])
        texts = [m["content"]["text"] for m in memories]
        assert "My grandmother knitted a purple scarf" in texts
        assert all("scarf" in text for text in texts)
        with pytest.raises(ElizaApiError) as refused:
            await client.agents.search_memories(eliza["id"], "scarf", mode="semantic")
        assert (refused.value.code, refused.value.status) == ("EMBEDDING_NOT_AVAILABLE", 503)
