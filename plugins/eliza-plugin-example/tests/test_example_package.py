"""The example plugin's own tests: the counter alone, then the installed plugin on a real
app in this process (`eliza_app`) and on a real server process (`eliza_live_server`).
The `eliza_*` fixtures come from `eliza.testing`, which pytest loads wherever eliza is
installed; copy this file along with the plugin."""

from __future__ import annotations

from typing import Any

import eliza_plugin_example as example
import httpx

from eliza.bus import NewMessage
from eliza.testing import AppUnderTest, LiveServer, wait_until


async def test_counter_counts_per_channel() -> None:
    counts = example.MessageCounts()
    for channel in ("a", "b", "a"):
        await counts.on_event(NewMessage(message={"channel_id": channel}))
    assert counts.per_channel == {"a": 2, "b": 1}


async def test_routes_and_listener_on_a_server(eliza_app: AppUnderTest) -> None:
    agent = await eliza_app.start_agent("example", name="Counter")
    eliza_app.server.bus.publish(NewMessage(message={"channel_id": "c1"}))
    base = f"/api/agents/{agent}/plugins/example"
    client = eliza_app.test_client()
    hello = await (await client.get(f"{base}/hello/ada")).get_json()
    assert hello == {"message": "Hello, ada!", "from": "Counter"}

    async def counted() -> dict[str, Any] | None:
        body: dict[str, Any] = await (await client.get(f"{base}/count")).get_json()
        return body if body["total"] else None

    # The listener runs as its own task: wait for it to count the message.
    assert (await wait_until(counted))["channels"] == {"c1": 1}


async def test_only_agents_that_enable_it_get_its_routes(eliza_app: AppUnderTest) -> None:
    plain = await eliza_app.start_agent()
    resp = await eliza_app.test_client().get(f"/api/agents/{plain}/plugins/example/count")
    assert resp.status_code == 404


def test_installed_plugin_on_a_live_server(eliza_live_server: LiveServer) -> None:
    agent = eliza_live_server.start_agent("@elizaos/plugin-example", name="Live")
    resp = httpx.get(f"{eliza_live_server.url}/api/agents/{agent}/plugins/example/hello/bo")
    assert resp.json() == {"message": "Hello, bo!", "from": "Live"}
