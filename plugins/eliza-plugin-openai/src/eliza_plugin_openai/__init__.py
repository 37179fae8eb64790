"""eliza-plugin-openai: models from any OpenAI-compatible endpoint.

Provides TEXT_SMALL (one reply string), TEXT_LARGE (streamed: an async iterator of text
chunks, from `stream: true` server-sent events) and TEXT_EMBEDDING (`/embeddings`) to the
agents whose character enables plugin ``openai``. Configure it per character through
settings or secrets ``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` (default
``https://api.openai.com/v1``), ``OPENAI_SMALL_MODEL``, ``OPENAI_LARGE_MODEL``,
``OPENAI_EMBEDDING_MODEL``, ``OPENAI_TIMEOUT``, ``OPENAI_MAX_RETRIES``,
``OPENAI_RETRY_DELAY``; each falls back to the environment variable of the same name.
``OPENAI_API_KEY`` is required (an agent without it does not start) unless
``OPENAI_BASE_URL`` is set: a server of one's own usually takes no key.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Awaitable
from contextlib import aclosing, asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx

from eliza import ModelType, RequiredSetting, hookimpl

from .client import OpenAIConfig, OpenAIError, post_json, stream_chat

if TYPE_CHECKING:
    from eliza.runtime.agent import AgentRuntime
    from eliza.server import AgentServer

__all__ = ["OpenAIConfig", "OpenAIError"]

class ClientPool:
    """The HTTP connection pool of one server: opened by `startup`, closed by `shutdown`."""

    def __init__(self) -> None:
        self.client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def borrow(self) -> AsyncIterator[httpx.AsyncClient]:
        if self.client is not None:
            yield self.client
            return
        # Used outside a started server (a script driving a runtime by hand): a short-lived
        # client, closed right after.
        async with httpx.AsyncClient() as client:
            yield client


# One pool per server (a process may run several); the weak keys let a stopped server go.
_pools: weakref.WeakKeyDictionary[AgentServer, ClientPool] = weakref.WeakKeyDictionary()


def _pool(server: AgentServer) -> ClientPool:
    return _pools.setdefault(server, ClientPool())


def _messages(runtime: AgentRuntime, params: dict[str, Any]) -> list[dict[str, str]]:
    if isinstance(params.get("messages"), list):
        return list(params["messages"])
    system = params.get("system") or runtime.character.get("system")
    prompt = params.get("prompt") or params.get("message") or ""
    messages = [{"role": "system", "content": str(system)}] if system else []
    messages.append({"role": "user", "content": str(prompt)})
    return messages


def _chat_payload(
    runtime: AgentRuntime, params: dict[str, Any], model: str
) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": model, "messages": _messages(runtime, params)}
    for ours, theirs in (("temperature", "temperature"), ("maxTokens", "max_tokens"),
                         ("stopSequences", "stop"), ("frequencyPenalty", "frequency_penalty"),
                         ("presencePenalty", "presence_penalty")):
        if params.get(ours) is not None:
            payload[theirs] = params[ours]
    return payload


async def text_small(runtime: AgentRuntime, params: dict[str, Any], *, pool: ClientPool
                     ) -> str:
    config = OpenAIConfig.for_runtime(runtime)
    async with pool.borrow() as client:
        body = await post_json(client, config, "/chat/completions",
                               _chat_payload(runtime, params, config.small_model))
    return str(body["choices"][0]["message"].get("content") or "")


async def text_large(runtime: AgentRuntime, params: dict[str, Any], *, pool: ClientPool
                     ) -> AsyncIterator[str] | str:
    """Streams unless the caller passes ``stream: False``."""
    config = OpenAIConfig.for_runtime(runtime)
    payload = _chat_payload(runtime, params, config.large_model)
    if params.get("stream") is False:
        async with pool.borrow() as client:
            body = await post_json(client, config, "/chat/completions", payload)
        return str(body["choices"][0]["message"].get("content") or "")
    return _stream(pool, config, payload)


async def _stream(
    pool: ClientPool, config: OpenAIConfig, payload: dict[str, Any]
) -> AsyncIterator[str]:
    async with pool.borrow() as client, aclosing(stream_chat(client, config, payload)) as chunks:
        async for chunk in chunks:
            yield chunk


async def text_embedding(runtime: AgentRuntime, params: dict[str, Any] | str | None, *,
                         pool: ClientPool) -> list[float]:
    config = OpenAIConfig.for_runtime(runtime)
    text = params if isinstance(params, str) else (params or {}).get("text")
    if text is None:
        text = (params or {}).get("input") if isinstance(params, dict) else None
    if not isinstance(text, str) or not text:
        raise ValueError("TEXT_EMBEDDING needs params['text'] (a non-empty string)")
    async with pool.borrow() as client:
        body = await post_json(client, config, "/embeddings",
                               {"model": config.embedding_model, "input": text})
    return [float(x) for x in body["data"][0]["embedding"]]


@hookimpl
def register_models(server: AgentServer) -> dict[ModelType, Any]:
    pool = _pool(server)
    return {
        ModelType.TEXT_SMALL: partial(text_small, pool=pool),
        ModelType.TEXT_LARGE: partial(text_large, pool=pool),
        ModelType.TEXT_EMBEDDING: partial(text_embedding, pool=pool),
    }


@hookimpl
def required_settings(server: AgentServer) -> list[RequiredSetting]:
    # OpenAI's own endpoint refuses every call without a key; an OpenAI-compatible server
    # of one's own (vLLM, llama.cpp, Ollama), named by OPENAI_BASE_URL, usually needs none.
    return [RequiredSetting(
        "OPENAI_API_KEY", "the OpenAI API key; not needed when OPENAI_BASE_URL names "
        "another OpenAI-compatible server", env=True, unless=("OPENAI_BASE_URL",))]


@hookimpl
def startup(server: AgentServer) -> None:
    _pool(server).client = httpx.AsyncClient()


@hookimpl
def shutdown(server: AgentServer) -> Awaitable[None] | None:
    pool = _pools.pop(server, None)
    client = pool.client if pool is not None else None
    return client.aclose() if client is not None else None
