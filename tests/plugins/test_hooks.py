"""One `test_hook_<name>` per hook in eliza.hookspecs (STYLE 2; test_hook_coverage checks it),
each through the ad-hoc class plugin on a running server."""

from __future__ import annotations

from typing import Any

from eliza import ModelType
from eliza.bus import NewMessage
from eliza.server import AgentServer
from tests.plugins.adhoc import NAME, AdHocPlugin
from tests.plugins.conftest import start_agent
from tests.polling import wait_until


async def test_hook_register_migrations(adhoc_server: AgentServer) -> None:
    def exists(db: Any) -> bool:
        return bool(db.table_exists("adhoc_widgets"))

    assert await adhoc_server.store.read(exists)


async def test_hook_register_models(adhoc_server: AgentServer) -> None:
    plugged = adhoc_server.agents.runtime(await start_agent(adhoc_server, "Plugged", [NAME]))
    plain = adhoc_server.agents.runtime(await start_agent(adhoc_server, "Plain", []))
    assert plugged is not None
    assert plain is not None
    assert await plugged.use_model(ModelType.TEXT_SMALL, {"prompt": "x"}) == "adhoc says x"
    # The built-in ELIZA model stays the default for agents that do not enable the plugin.
    assert await plain.use_model(ModelType.TEXT_SMALL, {"prompt": "x"}) != "adhoc says x"


async def test_hook_register_routes(adhoc_app: Any, adhoc_server: AgentServer) -> None:
    agent = await start_agent(adhoc_server, "Plugged", [NAME])
    resp = await adhoc_app.test_client().get(f"/api/agents/{agent}/plugins/adhoc/echo/a")
    assert (await resp.get_json())["params"] == {"thing": "a"}


async def test_hook_register_panels(adhoc_app: Any, adhoc_server: AgentServer) -> None:
    agent = await start_agent(adhoc_server, "Plugged", [NAME])
    body = await (await adhoc_app.test_client().get(f"/api/agents/{agent}/panels")).get_json()
    assert [p["name"] for p in body["data"]][:2] == ["Inline", "By path"]


async def test_hook_register_bus_listeners(listeners: AgentServer, adhoc: AdHocPlugin) -> None:
    listeners.bus.publish(NewMessage(message={"channel_id": "c", "content": "hello"}))
    await wait_until(lambda: adhoc.seen)
    assert adhoc.seen[0]["content"] == "hello"


async def test_hook_startup(adhoc_server: AgentServer, adhoc: AdHocPlugin) -> None:
    assert adhoc.started == ["Nursery"]  # called once, with the server's nursery open


async def test_hook_shutdown(adhoc_server: AgentServer, adhoc: AdHocPlugin) -> None:
    assert adhoc.stopped == []
    await adhoc_server.aclose()
    assert adhoc.stopped == ["bye"]
