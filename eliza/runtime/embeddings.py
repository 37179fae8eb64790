"""EmbeddingIndexer: one agent's memories get their vectors as they are written.

It runs beside the agent's inbox loop when the agent has a TEXT_EMBEDDING model and the
store has vectors (`Store.vectors`: sqlite-vec, or pgvector on PostgreSQL). The work list
is in the store (`embedding_queue`, filled by triggers, see `eliza.store.vectors`), so
nothing is lost when the model is slow or failing, or the server stops: a restart picks up
where it left off. The agent's turns never
wait for it; `wake()` after a turn says there may be new work.

A TEXT_EMBEDDING handler takes `{"text": str}` and returns the vector (a sequence of floats),
as in ElizaOS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from ..store import vectors, when_available
from .models import ModelProvider, ModelType

if TYPE_CHECKING:
    from .agent import AgentRuntime

BATCH = 16
RECHECK = 60.0  # seconds: memories written without a wake() (plugins, other processes)
MAX_ATTEMPTS = 3  # a memory whose text the model keeps refusing is left without a vector
MAX_BACKOFF = 60.0


class EmbeddingError(Exception):
    """The TEXT_EMBEDDING model gave something that is not a usable vector."""


def as_vector(value: Any) -> list[float]:
    """The model's answer as a list of finite floats (numpy arrays and lists accepted)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, Sequence) or isinstance(value, str | bytes) or not value:
        raise EmbeddingError("TEXT_EMBEDDING must return a non-empty list of numbers")
    if len(value) > vectors.MAX_DIMENSIONS:
        raise EmbeddingError(f"TEXT_EMBEDDING returned over {vectors.MAX_DIMENSIONS} numbers")
    try:
        out = [float(x) for x in value]
    except (TypeError, ValueError):
        raise EmbeddingError("TEXT_EMBEDDING must return numbers") from None
    if not all(math.isfinite(x) for x in out):
        raise EmbeddingError("TEXT_EMBEDDING returned a non-finite number")
    return out


class EmbeddingIndexer:
    def __init__(self, runtime: AgentRuntime, provider: ModelProvider) -> None:
        self.runtime = runtime
        # Vectors of different models never meet: each is stored with the plugin's name.
        self.model = provider.plugin or ModelType.TEXT_EMBEDDING.value
        self.stored = 0
        self.failures = 0
        self.last_error: str | None = None
        self._wake = trio.Event()
        self._attempts: dict[str, int] = {}

    @classmethod
    def for_runtime(cls, runtime: AgentRuntime) -> EmbeddingIndexer | None:
        provider = runtime.models.get(ModelType.TEXT_EMBEDDING)
        if provider is None or not runtime.store.vectors:
            return None
        return cls(runtime, provider)

    @staticmethod
    async def release(runtime: AgentRuntime) -> None:
        """Stop queueing the memories of an agent that no longer has an embedding model
        (its vectors stay; they are re-used if it gets the same model back)."""
        store = runtime.store
        if await store.read(vectors.is_enrolled, runtime.agent_id):
            await store.write(vectors.withdraw, runtime.agent_id)

    def wake(self) -> None:
        self._wake.set()

    async def embed(self, text: str) -> list[float]:
        """The vector of `text` (raises ModelNotAvailable, ModelTimeout, EmbeddingError)."""
        return as_vector(await self.runtime.use_model(ModelType.TEXT_EMBEDDING, {"text": text}))

    async def run(self) -> None:
        store = self.runtime.store
        agent_id = self.runtime.agent_id
        # A database outage is waited out here; the agent's turns report their own.
        queued = await when_available(partial(store.write, vectors.enroll, agent_id,
                                              self.model))
        if queued:
            self.runtime.log.info("embedding %d memories of %s with %s", queued,
                                  self.runtime.name, self.model)
        backoff = 1.0
        while True:
            # A fresh event before reading: a wake() after this read is not missed.
            self._wake = trio.Event()
            batch = await when_available(partial(store.read, vectors.next_batch, agent_id,
                                                 BATCH))
            if not batch:
                with trio.move_on_after(RECHECK):
                    await self._wake.wait()
                continue
            done = await self._embed_batch(batch)
            if done:
                self.stored += await when_available(partial(
                    store.write, vectors.finish, agent_id, self.model, done))
            if len(done) < len(batch):  # the model failed: retry later, not in a tight loop
                await trio.sleep(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
            else:
                backoff = 1.0

    async def _embed_batch(
        self, batch: list[vectors.Pending]
    ) -> list[tuple[vectors.Pending, list[float] | None]]:
        """Embed the batch in order; stop at the first failure (what is done is kept)."""
        done: list[tuple[vectors.Pending, list[float] | None]] = []
        for item in batch:
            if not item.text.strip():
                done.append((item, None))
                continue
            try:
                vector = await self.embed(item.text)
            except Exception as exc:  # the model's failure is the agent's to report
                self._failed(item, exc)
                if self._attempts.get(item.memory_id, 0) >= MAX_ATTEMPTS:
                    self._attempts.pop(item.memory_id, None)
                    done.append((item, None))
                    continue
                break
            self._attempts.pop(item.memory_id, None)
            done.append((item, vector))
        return done

    def _failed(self, item: vectors.Pending, exc: Exception) -> None:
        self.failures += 1
        attempts = self._attempts[item.memory_id] = self._attempts.get(item.memory_id, 0) + 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        given_up = attempts >= MAX_ATTEMPTS
        self.runtime.log.warning(
            "embedding memory %s of %s failed (%s)%s", item.memory_id, self.runtime.name,
            self.last_error, ", left without a vector" if given_up else ", will retry",
        )
