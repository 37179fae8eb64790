"""Plugins declare the settings they require (`required_settings`); an agent whose enabled
plugins lack one is not started: 422 MISSING_SETTING naming plugin and setting, the agent
stays inactive and stopped, one WARNING says why; once the setting is there it starts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import make_settings, open_app
from eliza import ModelType, RequiredSetting, hookimpl
from eliza.plugins import make_plugin_manager
from eliza.server import AgentServer


@dataclass(eq=False)  # pluggy tells plugins apart by equality
class Needy:
    """Requires a token (or, instead, a local URL) and one setting the environment may give."""

    @hookimpl
    def required_settings(self, server: AgentServer) -> list[RequiredSetting]:
        return [RequiredSetting("WIDGET_TOKEN", "the widget service's token",
                                unless=("WIDGET_LOCAL_URL",)),
                RequiredSetting("WIDGET_REGION", env=True)]


@dataclass(eq=False)
class Plain:
    """Declares nothing: its agents start as they always did."""

    async def reply(self, runtime: Any, params: dict[str, Any]) -> str:
        return "plain"

    @hookimpl
    def register_models(self, server: AgentServer) -> dict[ModelType, Any]:
        return {ModelType.TEXT_SMALL: self.reply}


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    monkeypatch.delenv("WIDGET_REGION", raising=False)
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    pm = make_plugin_manager(allow=[], extra=[("needy", Needy()), ("plain", Plain())])
    async with open_app(settings, AgentServer(settings, pm)) as test_app:
        yield test_app


@pytest.fixture
def server(app: Any) -> AgentServer:
    srv: AgentServer = app.app.config["ELIZA_SERVER"]
    return srv


async def create(client: Any, name: str, plugins: list[str], **fields: Any) -> str:
    response = await client.post("/api/agents", json={"characterJson": {
        "name": name, "bio": "x", "plugins": plugins, **fields}})
    assert response.status_code == 201
    agent_id: str = (await response.get_json())["data"]["id"]
    return agent_id


async def status(client: Any, agent_id: str) -> dict[str, Any]:
    data: dict[str, Any] = (await (await client.get(f"/api/agents/{agent_id}")).get_json())["data"]
    return data


def warnings_about(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and name in r.getMessage()]


async def test_hook_required_settings(app: Any, server: AgentServer,
                                      caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    agent_id = await create(client, "Needy", ["needy"],
                            settings={"WIDGET_REGION": "eu"})  # the token is missing

    with caplog.at_level(logging.WARNING):
        response = await client.post(f"/api/agents/{agent_id}/start")
    assert response.status_code == 422
    error = (await response.get_json())["error"]
    assert error["code"] == "MISSING_SETTING"
    assert "plugin needy" in error["message"]
    assert "WIDGET_TOKEN" in error["message"]
    assert error["details"] == {"agentId": agent_id, "missing": [
        {"plugin": "needy", "setting": "WIDGET_TOKEN",
         "description": "the widget service's token"}]}
    [line] = warnings_about(caplog, "WIDGET_TOKEN")
    assert "Needy" in line
    assert "needy" in line

    view = await status(client, agent_id)
    assert view["status"] == "inactive"
    assert "WIDGET_TOKEN" in view["lastError"]
    assert server.agents.get(agent_id).running is False  # its desired state untouched
    assert server.agents.runtime(agent_id) is None

    patched = await client.patch(f"/api/agents/{agent_id}",
                                 json={"settings": {"secrets": {"WIDGET_TOKEN": "t-1"}}})
    assert patched.status_code == 200
    assert "lastError" not in (await patched.get_json())["data"]
    response = await client.post(f"/api/agents/{agent_id}/start")
    assert response.status_code == 200
    assert (await status(client, agent_id))["status"] == "active"
    runtime = server.agents.runtime(agent_id)
    assert runtime is not None
    assert runtime.get_setting("WIDGET_TOKEN") == "t-1"


async def test_every_missing_setting_is_named(app: Any) -> None:
    client = app.test_client()
    agent_id = await create(client, "Bare", ["@elizaos/plugin-needy"])
    response = await client.post(f"/api/agents/{agent_id}/start")
    assert response.status_code == 422
    error = (await response.get_json())["error"]
    assert [m["setting"] for m in error["details"]["missing"]] == ["WIDGET_TOKEN",
                                                                    "WIDGET_REGION"]
    assert "settings WIDGET_TOKEN" in error["message"]
    assert "the server's environment" in error["message"]  # WIDGET_REGION may come from it


async def test_an_alternative_setting_or_the_environment_satisfies_it(
        app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = app.test_client()
    agent_id = await create(client, "Local", ["needy"], settings={
        "WIDGET_LOCAL_URL": "http://127.0.0.1:9"})
    assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 422
    monkeypatch.setenv("WIDGET_REGION", "eu")  # declared with env=True
    assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 200
    # A token in the environment does not count: that setting was declared without env.
    monkeypatch.setenv("WIDGET_TOKEN", "from-env")
    other = await create(client, "Other", ["needy"])
    assert (await client.post(f"/api/agents/{other}/start")).status_code == 422


async def test_plugins_without_declarations_are_unaffected(app: Any) -> None:
    client = app.test_client()
    for name, plugins in (("Plainly", ["plain"]), ("Nothing", []), ("Unknown", ["nope"])):
        agent_id = await create(client, name, plugins)
        assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 200
        assert (await status(client, agent_id))["status"] == "active"


async def test_a_change_a_running_agent_could_not_restart_with_is_refused(
        app: Any, server: AgentServer, caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    agent_id = await create(client, "Runner", ["needy"], settings={
        "WIDGET_REGION": "eu", "secrets": {"WIDGET_TOKEN": "t-1"}})
    assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 200
    with caplog.at_level(logging.WARNING):
        response = await client.patch(f"/api/agents/{agent_id}", json={
            "bio": "changed", "settings": {"secrets": {"WIDGET_TOKEN": None}}})
    assert response.status_code == 422
    assert (await response.get_json())["error"]["code"] == "MISSING_SETTING"
    assert len(warnings_about(caplog, "WIDGET_TOKEN")) == 1
    view = await status(client, agent_id)  # nothing changed, and it still runs
    assert (view["bio"], view["status"]) == ("x", "active")
    runtime = server.agents.runtime(agent_id)
    assert runtime is not None
    assert runtime.get_setting("WIDGET_TOKEN") == "t-1"
    # A stopped agent may be edited into any state; its next start is what is judged.
    assert (await client.post(f"/api/agents/{agent_id}/stop")).status_code == 200
    response = await client.patch(f"/api/agents/{agent_id}",
                                  json={"settings": {"secrets": {"WIDGET_TOKEN": None}}})
    assert response.status_code == 200
    assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 422


async def test_the_contract_publishes_the_refusal(app: Any) -> None:
    document = await (await app.test_client().get("/api/openapi.json")).get_json()
    responses = document["paths"]["/api/agents/{agent_id}/start"]["post"]["responses"]
    assert "MISSING_SETTING" in responses["422"]["description"]
