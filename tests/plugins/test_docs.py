"""The runnable example of docs/plugins.md is run: the block after the `doc-test` marker is
imported as a module and registered as a plugin on a real app."""

from __future__ import annotations

import re
import types
from pathlib import Path

from conftest import make_settings, open_app
from eliza.bus import NewMessage
from eliza.plugins import make_plugin_manager
from eliza.server import AgentServer
from tests.plugins.conftest import start_agent, wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def doc_module(marker: str) -> types.ModuleType:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- doc-test: {marker} .*?-->\n```python\n(.*?)```", text, re.S)
    assert match, f"no doc-test block {marker!r} in {DOC}"
    module = types.ModuleType(f"doc_{marker.replace('-', '_')}")
    exec(compile(match.group(1), f"{DOC}:{marker}", "exec"), module.__dict__)
    return module


async def test_doc_example_plugin_runs(tmp_path: Path) -> None:
    hello = doc_module("hello-plugin")
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    server = AgentServer(settings, make_plugin_manager(allow=[], extra=[("hello", hello)]))
    async with open_app(settings, server) as app:
        agent = await start_agent(server, "Helper", ["hello"])
        client = app.test_client()
        resp = await client.get(f"/api/agents/{agent}/plugins/hello/hello/you")
        assert await resp.get_json() == {"hello": "you", "agent": "Helper"}
        panels = await (await client.get(f"/api/agents/{agent}/panels")).get_json()
        assert [p["name"] for p in panels["data"]] == ["Hello"]
        server.bus.publish(NewMessage(message={"channel_id": "c", "content": "hi"}))
        await wait_until(lambda: hello.greetings)
