"""The runnable examples of docs/plugins.md are run: the plugin (the block after its
`doc-test` marker) is imported as a module and registered on a real app, and the plugin's
tests are run by pytest in a project of their own, with the documented configuration."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

from conftest import make_settings, open_app
from eliza.bus import NewMessage
from eliza.plugins import make_plugin_manager
from eliza.server import AgentServer
from tests.plugins.conftest import start_agent, wait_until
from tests.testing.project import assert_passed, run_author_tests

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def doc_block(marker: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- doc-test: {marker} .*?-->\n```\w+\n(.*?)```", text, re.S)
    assert match, f"no doc-test block {marker!r} in {DOC}"
    return match.group(1)


def doc_module(marker: str) -> types.ModuleType:
    module = types.ModuleType(f"doc_{marker.replace('-', '_')}")
    exec(compile(doc_block(marker), f"{DOC}:{marker}", "exec"), module.__dict__)
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


async def test_doc_required_settings_refusal_is_the_one_documented(tmp_path: Path) -> None:
    weather = doc_module("required-settings")
    character = json.loads(doc_block("required-settings-character"))
    documented = json.loads(doc_block("required-settings-refusal"))
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    server = AgentServer(settings, make_plugin_manager(allow=[], extra=[("weather", weather)]))
    async with open_app(settings, server) as app:
        client = app.test_client()
        created = await client.post("/api/agents", json={"characterJson": character})
        agent_id = (await created.get_json())["data"]["id"]
        response = await client.post(f"/api/agents/{agent_id}/start")
        assert response.status_code == 422
        documented["error"]["details"]["agentId"] = agent_id
        assert await response.get_json() == documented


def test_doc_plugin_tests_pass(tmp_path: Path) -> None:
    tests = doc_block("plugin-tests")
    result = run_author_tests(tmp_path / "hello", tests, pyproject=doc_block("plugin-tests-config"),
                              files={"eliza_hello.py": doc_block("hello-plugin")})
    assert_passed(result, tests.count("\nasync def test_") + tests.count("\ndef test_"))
