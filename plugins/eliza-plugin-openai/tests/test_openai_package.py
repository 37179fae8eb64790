"""The openai plugin's own tests: configuration and request building, and the key an agent
must have to start (in this process and on a live server). Its network behaviour
(streaming, retries) is tested against a fake OpenAI-compatible server in the repository's
tests/plugins/test_openai_plugin.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import eliza_plugin_openai as plugin
import httpx
import pytest
from eliza_plugin_openai.client import DEFAULT_BASE_URL, OpenAIConfig

from eliza.settings import Settings
from eliza.testing import AppUnderTest, LiveServer

# The web UI's default template names the plugin this way.
ELIZAOS_NAME = "@elizaos/plugin-openai"


@pytest.fixture(autouse=True)
def no_openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin falls back on these variables: none of them here, unless a test sets it."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def eliza_settings(eliza_settings_factory: Callable[..., Settings]) -> Settings:
    return eliza_settings_factory(ELIZA_LOAD_PLUGINS="openai")


class FakeRuntime:
    def __init__(self, settings: dict[str, Any], system: str | None = None) -> None:
        self.settings = settings
        self.character = {"name": "T", "system": system}

    def get_setting(self, key: str) -> Any:
        return self.settings.get(key)


def test_character_settings_win_over_the_environment() -> None:
    runtime = FakeRuntime({"OPENAI_LARGE_MODEL": "char-large", "OPENAI_MAX_RETRIES": 1})
    config = OpenAIConfig.for_runtime(runtime, {  # type: ignore[arg-type]
        "OPENAI_LARGE_MODEL": "env-large", "OPENAI_API_KEY": "sk-env"})
    assert config.large_model == "char-large"
    assert config.api_key == "sk-env"
    assert config.max_retries == 1
    assert config.base_url == DEFAULT_BASE_URL
    assert config.headers()["Authorization"] == "Bearer sk-env"


def test_no_key_sends_no_authorization() -> None:
    config = OpenAIConfig.for_runtime(FakeRuntime({}), {})  # type: ignore[arg-type]
    assert "Authorization" not in config.headers()


def test_chat_payload_maps_elizaos_params() -> None:
    runtime = FakeRuntime({}, system="Be kind.")
    payload = plugin._chat_payload(runtime, {  # type: ignore[arg-type]
        "prompt": "hi", "temperature": 0.2, "maxTokens": 5, "stopSequences": ["\n"]}, "m")
    assert payload == {
        "model": "m", "temperature": 0.2, "max_tokens": 5, "stop": ["\n"],
        "messages": [{"role": "system", "content": "Be kind."},
                     {"role": "user", "content": "hi"}],
    }


async def test_an_agent_without_a_key_does_not_start(eliza_app: AppUnderTest) -> None:
    client = eliza_app.test_client()
    created = await client.post("/api/agents", json={"characterJson": {
        "name": "NoKey", "bio": "x", "plugins": [ELIZAOS_NAME]}})
    agent_id = (await created.get_json())["data"]["id"]
    response = await client.post(f"/api/agents/{agent_id}/start")
    assert response.status_code == 422
    error = (await response.get_json())["error"]
    assert error["code"] == "MISSING_SETTING"
    assert "plugin openai needs setting OPENAI_API_KEY" in error["message"]
    assert [(m["plugin"], m["setting"]) for m in error["details"]["missing"]] == [
        ("openai", "OPENAI_API_KEY")]
    agent = (await (await client.get(f"/api/agents/{agent_id}")).get_json())["data"]
    assert agent["status"] == "inactive"

    await client.patch(f"/api/agents/{agent_id}",
                       json={"settings": {"secrets": {"OPENAI_API_KEY": "sk-test"}}})
    assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 200


async def test_a_base_url_or_the_environment_does_without_a_key_in_the_character(
        eliza_app: AppUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    # A local OpenAI-compatible server (vLLM, llama.cpp, Ollama) usually takes no key.
    local = await eliza_app.start_agent(
        ELIZAOS_NAME, name="Local", settings={"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"})
    assert eliza_app.server.agents.runtime(local) is not None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    from_env = await eliza_app.start_agent("openai", name="FromEnv")
    assert eliza_app.server.agents.runtime(from_env) is not None


def test_a_live_server_refuses_the_agent_and_says_why(
        eliza_live_server_factory: Callable[..., LiveServer]) -> None:
    server = eliza_live_server_factory(ELIZA_LOAD_PLUGINS="openai")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        created = http.post("/api/agents", json={"characterJson": {
            "name": "Template", "bio": "x", "plugins": [ELIZAOS_NAME]}})
        agent_id = created.json()["data"]["id"]
        refused = http.post(f"/api/agents/{agent_id}/start")
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "MISSING_SETTING"
        assert http.get(f"/api/agents/{agent_id}").json()["data"]["status"] == "inactive"
        [line] = [line for line in server.log().splitlines() if "OPENAI_API_KEY" in line]
        assert "WARNING" in line
        assert "Template" in line
        assert "plugin openai" in line

        http.patch(f"/api/agents/{agent_id}",
                   json={"settings": {"secrets": {"OPENAI_API_KEY": "sk-test"}}})
        assert http.post(f"/api/agents/{agent_id}/start").status_code == 200
        assert http.get(f"/api/agents/{agent_id}").json()["data"]["status"] == "active"
