"""The bus-listener host: delivery, containment of a raising handler, overflow, bad config."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.lowlevel

from eliza import BusListener, Event
from eliza.bus import InProcessBus, NewMessage
from eliza.plugin_host import BusListenerHost
from eliza.server import AgentServer
from tests.plugins.adhoc import AdHocPlugin
from tests.plugins.conftest import start_agent
from tests.polling import wait_until


def message(channel: str, content: str = "hi") -> NewMessage:
    return NewMessage(message={"id": content, "channel_id": channel, "content": content})


async def test_listener_sees_messages_and_survives_a_raise(
    listeners: AgentServer, adhoc: AdHocPlugin, caplog: pytest.LogCaptureFixture
) -> None:
    listeners.bus.publish(message("c1", "one"))
    listeners.bus.publish(message("c1", "explode"))
    listeners.bus.publish(message("c2", "two"))
    await wait_until(lambda: len(adhoc.seen) == 2)
    assert [m["content"] for m in adhoc.seen] == ["one", "two"]
    [stats] = [s for s in listeners.listeners.stats if s.plugin == "adhoc"]
    assert (stats.received, stats.failures, stats.restarts) == (3, 1, 0)
    assert "ValueError: listener exploded" in (stats.last_error or "")
    failed = [r for r in caplog.records if "bus listener collector" in r.getMessage()]
    assert failed
    assert failed[0].exc_info is not None  # logged with its traceback


async def test_example_plugin_counts_and_serves_them(listeners: AgentServer,
                                                     adhoc_app: Any) -> None:
    agent = await start_agent(listeners, "Counter", ["example"])
    for channel in ("a", "a", "b"):
        listeners.bus.publish(message(channel))
    client = adhoc_app.test_client()

    async def counted() -> dict[str, Any]:
        resp = await client.get(f"/api/agents/{agent}/plugins/example/count")
        return dict(await resp.get_json())

    async def all_counted() -> bool:
        return bool((await counted())["total"] == 3)

    await wait_until(all_counted)
    assert (await counted())["channels"] == {"a": 2, "b": 1}


async def test_overflow_resubscribes_and_logs(
    nursery: trio.Nursery, adhoc_server: AgentServer, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import eliza.plugin_host as plugin_host

    monkeypatch.setattr(plugin_host, "LISTENER_CAPACITY", 2)
    gate = trio.Event()
    got: list[str] = []

    async def slow(event: Event) -> None:
        await gate.wait()
        got.append(event.to_dict()["message"]["content"])

    host = _host([BusListener(["new_message"], slow, name="slow")])
    await nursery.start(host.run)
    for n in range(6):  # 1 in the handler, 2 buffered, then the overflow
        host.bus.publish(message("c", str(n)))
        await trio.lowlevel.checkpoint()
    gate.set()
    await wait_until(lambda: len(got) >= 3)
    host.bus.publish(message("c", "after"))
    await wait_until(lambda: "after" in got)
    [stats] = host.stats
    assert stats.resubscribes == 1
    assert stats.lost_at_least >= 1
    assert any("fell 2 events behind" in r.getMessage() for r in caplog.records)


async def test_unknown_event_names_are_reported_once(
    nursery: trio.Nursery, adhoc_server: AgentServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def never(event: Event) -> None:
        raise AssertionError("not reached")

    host = _host([BusListener(["no_such_event"], never)])
    with caplog.at_level(logging.ERROR):
        await nursery.start(host.run)
    assert host.stats == []
    assert any("unknown events" in r.getMessage() for r in caplog.records)


async def test_one_host_per_server(nursery: trio.Nursery, adhoc_server: AgentServer) -> None:
    host = _host([])
    await nursery.start(host.run)
    with pytest.raises(RuntimeError, match="already run"):
        await host.run()


def _host(listeners: list[BusListener]) -> BusListenerHost:
    """A bus-listener host on a bus of its own, whose only plugin contributes `listeners`."""
    host = BusListenerHost(InProcessBus())
    host.listeners = {"test": listeners}
    return host


async def test_real_messages_reach_the_example_listener(listeners: AgentServer,
                                                        adhoc_app: Any) -> None:
    """Posted through the messaging REST API, not published by hand."""
    client = adhoc_app.test_client()
    agent = await start_agent(listeners, "Counter", ["example"])
    created = await client.post("/api/messaging/channels", json={
        "name": "counted", "message_server_id": "00000000-0000-0000-0000-000000000000",
        "participantCentralUserIds": [agent], "type": "GROUP"})
    assert created.status_code == 201
    channel = (await created.get_json())["data"]["id"]
    for text in ("one", "two"):
        resp = await client.post(f"/api/messaging/channels/{channel}/messages", json={
            "author_id": "965189c0-221e-42f3-89eb-fb91df1f8fe8", "content": text,
            "message_server_id": "00000000-0000-0000-0000-000000000000"})
        assert resp.status_code == 201

    async def counted() -> Any:
        resp = await client.get(f"/api/agents/{agent}/plugins/example/count")
        return (await resp.get_json())["channels"].get(channel, 0) >= 2

    await wait_until(counted)


async def test_a_dead_loop_is_restarted_with_backoff(
    listeners: AgentServer, adhoc: AdHocPlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    import eliza.plugin_host as host

    real_deliver = host._deliver
    broken = [True]

    async def deliver_once_broken(*args: Any) -> None:
        if args[1].plugin == "adhoc" and broken and broken.pop():
            raise RuntimeError("host bug")  # not the handler: the loop itself dies
        await real_deliver(*args)

    monkeypatch.setattr(host, "_deliver", deliver_once_broken)
    subscribers = listeners.bus.statistics()["subscribers"]
    listeners.bus.publish(message("c", "lost"))
    [stats] = [s for s in listeners.listeners.stats if s.plugin == "adhoc"]
    await wait_until(lambda: stats.restarts == 1)
    # Re-subscribed after the backoff:
    await wait_until(lambda: listeners.bus.statistics()["subscribers"] == subscribers)
    listeners.bus.publish(message("c", "after restart"))
    await wait_until(lambda: adhoc.seen)
    assert [m["content"] for m in adhoc.seen] == ["after restart"]
    assert "host bug" in (stats.last_error or "")
