"""Talking to an OpenAI-compatible endpoint: configuration, retries, SSE streaming.

Every request runs under a timeout (httpx's, per phase) and is retried with exponential
backoff on 429, 5xx and connection errors; a `Retry-After` header is honoured up to
`MAX_RETRY_AFTER`. A streamed completion is retried only until its first chunk arrives
(after that, a retry would repeat text the caller has already seen).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import trio

if TYPE_CHECKING:
    from eliza.runtime.agent import AgentRuntime

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 30.0


class OpenAIError(Exception):
    """The endpoint refused the request, or kept failing after the retries."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class OpenAIConfig:
    api_key: str | None
    base_url: str
    small_model: str
    large_model: str
    embedding_model: str
    timeout: float
    max_retries: int
    retry_delay: float

    @classmethod
    def for_runtime(
        cls, runtime: AgentRuntime, environ: Mapping[str, str] | None = None
    ) -> OpenAIConfig:
        """Character settings and secrets first (`runtime.get_setting`), then this
        process's environment variables of the same names (the server never copies its
        environment into a character, so the plugin reads it itself)."""
        env = os.environ if environ is None else environ

        def get(key: str, default: str) -> str:
            value = runtime.get_setting(key)
            if value is None or value == "":
                value = env.get(key) or default
            return str(value)

        return cls(
            api_key=get("OPENAI_API_KEY", "") or None,
            base_url=get("OPENAI_BASE_URL", DEFAULT_BASE_URL).rstrip("/"),
            small_model=get("OPENAI_SMALL_MODEL", "gpt-4o-mini"),
            large_model=get("OPENAI_LARGE_MODEL", "gpt-4o"),
            embedding_model=get("OPENAI_EMBEDDING_MODEL", "text-embedding-3-small"),
            timeout=float(get("OPENAI_TIMEOUT", "60")),
            max_retries=int(get("OPENAI_MAX_RETRIES", "3")),
            retry_delay=float(get("OPENAI_RETRY_DELAY", "0.5")),
        )

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


def _retry_after(response: httpx.Response | None, attempt: int, config: OpenAIConfig) -> float:
    delay = config.retry_delay * 2.0**attempt
    if response is not None:
        with suppress(KeyError, ValueError):
            retry_after = float(str(response.headers["Retry-After"]))
            delay = max(delay, min(MAX_RETRY_AFTER, retry_after))
    return delay


def _error(response: httpx.Response, body: bytes) -> OpenAIError:
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body[:200].decode(errors="replace")
    return OpenAIError(f"{response.status_code} from {response.url}: {message}",
                       response.status_code)


@asynccontextmanager
async def open_response(
    client: httpx.AsyncClient, config: OpenAIConfig, path: str, payload: dict[str, Any]
) -> AsyncIterator[httpx.Response]:
    """POST `payload` and yield the (streaming) response once its status is 2xx, retrying
    429/5xx/connection errors with backoff."""
    url = f"{config.base_url}{path}"
    attempt = 0
    while True:
        failure: Exception
        last: httpx.Response | None = None
        try:
            request = client.build_request("POST", url, json=payload, headers=config.headers(),
                                           timeout=config.timeout)
            response = await client.send(request, stream=True)
        except httpx.TransportError as exc:  # connect, read, timeouts: worth a retry
            failure = exc
        else:
            if response.is_success:
                # Outside the retry `try`: an error in the caller's block propagates.
                try:
                    yield response
                finally:
                    await response.aclose()
                return
            try:
                failure = _error(response, await response.aread())
            except httpx.TransportError as exc:
                failure = exc
            finally:
                await response.aclose()
            if response.status_code not in RETRY_STATUSES:
                raise failure
            last = response
        if attempt >= config.max_retries:
            raise OpenAIError(f"{url} failed after {attempt + 1} attempts: {failure}",
                              getattr(failure, "status", None)) from failure
        delay = _retry_after(last, attempt, config)
        log.warning("OpenAI request to %s failed (%s); retry %d in %.2f s", url, failure,
                    attempt + 1, delay)
        attempt += 1
        await trio.sleep(delay)


async def post_json(
    client: httpx.AsyncClient, config: OpenAIConfig, path: str, payload: dict[str, Any]
) -> Any:
    async with open_response(client, config, path, payload) as response:
        return json.loads(await response.aread())


async def stream_chat(
    client: httpx.AsyncClient, config: OpenAIConfig, payload: dict[str, Any]
) -> AsyncGenerator[str, None]:
    """The text deltas of a streamed chat completion (server-sent events)."""
    async with open_response(client, config, "/chat/completions",
                             {**payload, "stream": True}) as response:
        # Read to the end even after [DONE] (the server closes right after it): leaving
        # httpx's nested line/text/byte iterators half-consumed would leave them to the GC.
        done = False
        async for line in response.aiter_lines():
            if done or not line.startswith("data:"):
                continue  # blank separators, comments, `event:` lines
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                continue
            choices = json.loads(data).get("choices") or [{}]
            text = (choices[0].get("delta") or {}).get("content")
            if text:
                yield text
