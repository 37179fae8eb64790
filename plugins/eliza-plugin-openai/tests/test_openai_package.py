"""The openai plugin's own unit tests: configuration and request building. Its network
behaviour (streaming, retries) is tested against a fake OpenAI-compatible server in the
repository's tests/plugins/test_openai_plugin.py."""

from __future__ import annotations

from typing import Any

import eliza_plugin_openai as plugin
from eliza_plugin_openai.client import DEFAULT_BASE_URL, OpenAIConfig


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
