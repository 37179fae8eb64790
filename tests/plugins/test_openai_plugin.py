"""eliza-plugin-openai against the fake OpenAI-compatible server, through a real agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from eliza_plugin_openai import OpenAIConfig, OpenAIError

from conftest import make_settings, open_app
from eliza import ModelType
from eliza.runtime.agent import AgentRuntime
from eliza.server import AgentServer
from tests.plugins.conftest import start_agent
from tests.plugins.fake_openai import FakeOpenAI


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeOpenAI:
    server = FakeOpenAI()
    await nursery.start(server.run)
    return server


@pytest.fixture
async def openai_server(tmp_path: Path) -> AsyncIterator[AgentServer]:
    settings = make_settings(tmp_path, ELIZA_LOAD_PLUGINS="openai", ELIZA_DEFAULT_AGENT="false")
    async with open_app(settings) as app:
        yield app.app.config["ELIZA_SERVER"]


async def agent_using(server: AgentServer, fake: FakeOpenAI, **settings: str) -> AgentRuntime:
    record, _ = await server.agents.create({
        "name": "GPT", "bio": "x", "system": "Be brief.", "plugins": ["@elizaos/plugin-openai"],
        "settings": {"OPENAI_LARGE_MODEL": "big-1", "OPENAI_RETRY_DELAY": "0.01", **settings,
                     "secrets": {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.url}},
    })
    runtime = await server.agents.start(record.id)
    assert runtime is not None  # one process: it runs here
    return runtime


async def test_text_large_streams_chunks(openai_server: AgentServer, fake: FakeOpenAI) -> None:
    runtime = await agent_using(openai_server, fake)
    seen: list[tuple[str, int]] = []

    async def on_chunk(text: str, index: int) -> None:
        seen.append((text, index))

    reply = await runtime.generate(ModelType.TEXT_LARGE, {"prompt": "hi"}, on_chunk=on_chunk)
    assert reply == "Hello there"
    assert seen == [("Hel", 0), ("lo ", 1), ("there", 2)]
    [call] = fake.requests
    assert call["auth"] == "Bearer sk-test"
    assert call["body"]["stream"] is True
    assert call["body"]["model"] == "big-1"
    assert call["body"]["messages"] == [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "hi"}]


async def test_retries_a_500_and_a_429(openai_server: AgentServer, fake: FakeOpenAI) -> None:
    runtime = await agent_using(openai_server, fake)
    fake.fail_next = [500, 429]
    chunks: list[str] = []

    async def on_chunk(text: str, index: int) -> None:
        chunks.append(text)

    assert await runtime.generate(ModelType.TEXT_LARGE, {"prompt": "hi"},
                                  on_chunk=on_chunk) == "Hello there"
    assert chunks == ["Hel", "lo ", "there"]  # nothing from the failed attempts
    assert len(fake.requests) == 3
    fake.fail_next = [503]
    assert await runtime.use_model(ModelType.TEXT_SMALL, {"prompt": "t"}) == "Hello there"


async def test_gives_up_after_the_retries(openai_server: AgentServer, fake: FakeOpenAI) -> None:
    runtime = await agent_using(openai_server, fake, OPENAI_MAX_RETRIES="1")
    fake.fail_next = [500, 500, 500]
    with pytest.raises(OpenAIError, match="after 2 attempts"):
        await runtime.use_model(ModelType.TEXT_SMALL, {"prompt": "t"})
    fake.fail_next = [400]
    with pytest.raises(OpenAIError) as info:
        await runtime.use_model(ModelType.TEXT_SMALL, {"prompt": "t"})
    assert info.value.status == 400
    assert len(fake.requests) == 3  # a 400 is not retried


async def test_connection_errors_are_retried_then_reported(openai_server: AgentServer) -> None:
    from conftest import free_port

    dead = FakeOpenAI(url=f"http://127.0.0.1:{free_port()}/v1")
    runtime = await agent_using(openai_server, dead, OPENAI_MAX_RETRIES="2")
    with pytest.raises(OpenAIError, match="after 3 attempts"):
        await runtime.use_model(ModelType.TEXT_SMALL, {"prompt": "t"})


async def test_embedding(openai_server: AgentServer, fake: FakeOpenAI) -> None:
    runtime = await agent_using(openai_server, fake)
    vector = await runtime.use_model(ModelType.TEXT_EMBEDDING, {"text": "hello"})
    assert vector == [0.5, -0.25, 1.0]
    assert fake.requests[-1]["body"] == {"model": "text-embedding-3-small", "input": "hello"}


async def test_only_agents_enabling_it_get_its_models(openai_server: AgentServer) -> None:
    plain = openai_server.agents.runtime(await start_agent(openai_server, "Plain", []))
    assert plain is not None
    provider = plain.models.get(ModelType.TEXT_LARGE)
    assert provider is not None
    assert provider.plugin != "openai"
    assert not plain.models.has(ModelType.TEXT_EMBEDDING)


def test_config_falls_back_to_the_environment() -> None:
    class Runtime:
        def get_setting(self, key: str) -> Any:
            return {"OPENAI_SMALL_MODEL": "from-character"}.get(key)

    config = OpenAIConfig.for_runtime(Runtime(), {  # type: ignore[arg-type]
        "OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "http://h/v1/",
        "OPENAI_SMALL_MODEL": "from-env"})
    assert (config.api_key, config.base_url, config.small_model, config.large_model) == (
        "sk-env", "http://h/v1", "from-character", "gpt-4o")
