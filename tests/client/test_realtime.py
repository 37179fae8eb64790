"""The realtime client against a live server: handshake, join, send, the agent's broadcast
and messageComplete, acks through `call`, the log stream, auth, and reconnection after the
server restarts."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from eliza.client import (
    ElizaClient,
    RealtimeAuthError,
    RealtimeError,
    RealtimeEvent,
    RealtimeTimeout,
    open_realtime,
)
from eliza.client.realtime import RealtimeClient

from .conftest import restart_on_same_port


async def _dm(url: str, entity_id: str, **kw: Any) -> tuple[str, str]:
    async with ElizaClient(url, **kw) as client:
        eliza = await client.agents.find("Eliza")
        channel = await client.messaging.dm_channel(entity_id, eliza["id"])
        return eliza["id"], channel["id"]


async def _until(rt: RealtimeClient, name: str, sender: str | None = None) -> RealtimeEvent:
    """The next `name` event from `events()` (from `sender` if given), within 10 s."""
    with trio.fail_after(10):
        async for event in rt.events():
            if event.name == name and (sender is None or event.data.get("senderId") == sender):
                return event
    raise AssertionError(f"events() ended before {name}")


async def test_join_send_broadcast_complete_and_call(live_server: Any) -> None:
    async with open_realtime(live_server.url) as rt:
        assert rt.connected
        assert rt.sid
        agent_id, channel_id = await _dm(live_server.url, rt.entity_id)
        joined = await rt.join(channel_id, agent_id=agent_id)
        assert joined["channelId"] == channel_id
        assert joined["agentId"] == agent_id
        ack = await rt.send(channel_id, "Men are all alike.", message_id="client-1")
        assert ack["clientMessageId"] == "client-1"
        assert ack["status"] == "received_by_server_and_processing"
        # The stream so far: connect, the server's welcome, the join, our echo, the ack ...
        names = []
        with trio.fail_after(10):
            async for event in rt.events():
                names.append(event.name)
                if event.name == "messageBroadcast" and event.data["senderId"] == agent_id:
                    assert event.data["text"] == "In what way?"
                    assert event.data["channelId"] == channel_id
                if event.name == "messageComplete":
                    assert event.data["channelId"] == channel_id
                    break
        assert names[:3] == ["connect", "authenticated", "connection_established"]
        assert names.index("messageAck") < names.index("messageComplete")
        assert names.count("messageBroadcast") == 2  # our own echo, then Eliza's reply

        # An ack through `call`: the SEND_MESSAGE event answers with the ack object.
        reply = rt.expect("messageBroadcast", lambda d: d["senderId"] == agent_id)
        acked = await rt.call("2", {"channelId": channel_id, "senderId": rt.entity_id,
                                    "message": "I am unhappy."})
        assert acked[0]["success"] is True
        assert acked[0]["channelId"] == channel_id
        assert (await reply.wait()).data["text"]
        with pytest.raises(RealtimeTimeout):
            await rt.wait_for("never-sent", within=0.05)
        with pytest.raises(RealtimeError, match="refused"):
            await rt.send(channel_id, "   ")  # the server's messageError


async def test_log_stream(live_server: Any) -> None:
    async with open_realtime(live_server.url) as rt, ElizaClient(live_server.url) as client:
        confirmed = await rt.subscribe_logs(level="warn")
        assert confirmed["subscribed"] is True
        streamed = rt.expect("log_stream", lambda d: d["payload"]["msg"] == "loud")
        await client.server.submit_logs([{"msg": "quiet", "level": "info"},
                                         {"msg": "loud", "level": "error"}])
        assert (await streamed.wait()).data["payload"]["level"] == 50
        assert (await rt.unsubscribe_logs())["subscribed"] is False


async def test_reconnects_after_the_server_restarts(live_server: Any) -> None:
    async with open_realtime(live_server.url, max_backoff=0.5) as rt:
        agent_id, channel_id = await _dm(live_server.url, rt.entity_id)
        await rt.join(channel_id)
        first_sid = rt.sid
        await trio.to_thread.run_sync(restart_on_same_port, live_server)
        with trio.fail_after(15):
            async for event in rt.events():
                if event.name == "disconnect":
                    break
            async for event in rt.events():
                if event.name == "connect":
                    break
        assert rt.reconnects == 1
        assert rt.sid != first_sid
        rejoined = await _until(rt, "channel_joined")  # the automatic rejoin
        assert rejoined.data["channelId"] == channel_id
        # Still in the room: a message posted by REST reaches this socket.
        async with ElizaClient(live_server.url) as client:
            await client.messaging.post_message(channel_id, "Men are all alike.",
                                                author_id=rt.entity_id)
        reply = await _until(rt, "messageBroadcast", sender=agent_id)
        assert reply.data["text"] == "In what way?"
        ack = await rt.send(channel_id, "Hello again")
        assert ack["channelId"] == channel_id


async def test_without_reconnect_the_events_end(live_server: Any) -> None:
    async with open_realtime(live_server.url, reconnect=False) as rt:
        await trio.to_thread.run_sync(live_server.stop)
        seen = [event.name async for event in rt.events()]
        assert seen[-1] == "disconnect"
        assert not rt.connected
        with pytest.raises(RealtimeError, match="closed"):
            rt.emit("anything")


async def test_auth_and_connection_errors(live_server_factory: Any) -> None:
    server = live_server_factory(ELIZA_SERVER_AUTH_TOKEN="s3cret")
    with pytest.raises(RealtimeAuthError, match="API key"):
        async with open_realtime(server.url, api_key="wrong"):
            pass
    async with open_realtime(server.url, api_key="s3cret", entity_id=(
            "7d1c4bd2-2f0e-4a35-9d55-5a0f5b0e8d11")) as rt:
        event = await rt.next_event()
        assert event.name == "connect"
        authenticated = await rt.next_event()
        assert authenticated.data["entityId"] == "7d1c4bd2-2f0e-4a35-9d55-5a0f5b0e8d11"
    with pytest.raises(RealtimeError, match="cannot connect"):
        async with open_realtime("http://127.0.0.1:9", within=2):
            pass
