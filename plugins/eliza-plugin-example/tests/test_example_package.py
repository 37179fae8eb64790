"""The example plugin's own tests, run with the host's fixtures (`conftest.py` at the
repository root): the counter, and the routes on a real app."""

from __future__ import annotations

from pathlib import Path

import eliza_plugin_example as example
import trio

from conftest import make_settings, open_app
from eliza.bus import NewMessage
from eliza.plugin_host import bus_listeners_running, run_bus_listeners
from eliza.plugins import make_plugin_manager
from eliza.server import AgentServer


async def test_counter_counts_per_channel() -> None:
    counts = example.MessageCounts()
    for channel in ("a", "b", "a"):
        await counts.on_event(NewMessage(message={"channel_id": channel}))
    assert counts.per_channel == {"a": 2, "b": 1}


async def test_routes_and_listener_on_a_server(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    server = AgentServer(settings, make_plugin_manager(allow=["example"]))
    async with open_app(settings, server) as app, trio.open_nursery() as nursery:
        if not bus_listeners_running(server):
            await nursery.start(run_bus_listeners, server)
        record, _ = await server.agents.create({"name": "Counter", "plugins": ["example"]})
        await server.agents.start(record.id)
        server.bus.publish(NewMessage(message={"channel_id": "c1"}))
        base = f"/api/agents/{record.id}/plugins/example"
        client = app.test_client()
        hello = await (await client.get(f"{base}/hello/ada")).get_json()
        assert hello == {"message": "Hello, ada!", "from": "Counter"}
        for _ in range(500):
            body = await (await client.get(f"{base}/count")).get_json()
            if body["total"]:
                break
            await trio.sleep(0.01)
        assert body["channels"] == {"c1": 1}
        nursery.cancel_scope.cancel()
