"""Search over an agent's memories and over the central messages, in one of four modes:

- `text`: full-text search (`eliza.store.search`), always available;
- `semantic`: the query's vector against the vector index (`eliza.store.vectors`), when the
  agent runs with a TEXT_EMBEDDING model and the store has vectors (sqlite-vec, pgvector);
  where it has not, a request for it says why (`Store.vector_reason`);
- `hybrid`: both lists fused by reciprocal rank (RRF, k = 60): a hit high in either list
  ranks high, a hit in both ranks highest;
- `auto` (default): `hybrid` when semantic search is available, else `text`.

Central messages have no vectors of their own: an agent's memory of a message carries the
message id (`metadata.sourceId`), so semantic message search asks the running agents that
embed their memories (those in the channel, when one is given) and maps their hits back.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .. import ids
from ..errors import ModelNotAvailable, ServiceUnavailable
from ..store import messaging as mq
from ..store import search as sq
from ..store import vectors
from .embeddings import EmbeddingIndexer

if TYPE_CHECKING:
    from ..store import Store
    from .ports import AgentDirectory

log = logging.getLogger(__name__)

RRF_K = 60
DEFAULT_THRESHOLD = 0.1  # minimum similarity of a semantic hit (ElizaOS's match_threshold)
MAX_SEARCHING_AGENTS = 8
OVERSAMPLE = 4  # semantic message hits are filtered after the KNN query: ask for more


class SearchMode(enum.StrEnum):
    AUTO = "auto"
    TEXT = "text"
    SEMANTIC = "semantic"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class Query:
    text: str
    page: sq.Page = sq.DEFAULT_PAGE
    match_all: bool = True
    mode: SearchMode = SearchMode.AUTO
    threshold: float = DEFAULT_THRESHOLD

    @property
    def window(self) -> int:
        """How many hits of each list a page needs (hybrid pages are cut after fusing)."""
        return self.page.offset + self.page.limit


def _resolve(mode: SearchMode, semantic: bool, why: str) -> SearchMode:
    if mode is SearchMode.AUTO:
        return SearchMode.HYBRID if semantic else SearchMode.TEXT
    if mode is not SearchMode.TEXT and not semantic:
        raise ModelNotAvailable(f"Semantic search is not available: {why}",
                                code="EMBEDDING_NOT_AVAILABLE")
    return mode


async def _embed(indexer: EmbeddingIndexer, text: str) -> list[float]:
    try:
        return await indexer.embed(text)
    except Exception as exc:  # the model's own failure, reported to the caller
        raise ServiceUnavailable(f"The embedding model failed: {type(exc).__name__}: {exc}",
                                 code="EMBEDDING_FAILED") from exc


K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def fuse(
    text_hits: list[T], semantic_hits: list[T], key: Callable[[T], K]
) -> list[tuple[T, float]]:
    """Reciprocal rank fusion: score = sum of 1 / (RRF_K + rank) over the lists a hit is in."""
    scores: dict[K, float] = {}
    first: dict[K, T] = {}
    for hits in (text_hits, semantic_hits):
        for rank, hit in enumerate(hits, start=1):
            k = key(hit)
            scores[k] = scores.get(k, 0.0) + 1.0 / (RRF_K + rank)
            first.setdefault(k, hit)
    ordered = sorted(scores, key=lambda k: -scores[k])
    return [(first[k], scores[k]) for k in ordered]


# -- an agent's memories --------------------------------------------------------------------


async def search_memories(
    store: Store, agents: AgentDirectory, agent_id: str, query: Query, *,
    room_id: str | None = None, table: str | None = None,
) -> tuple[list[dict[str, Any]], SearchMode]:
    """The agent's memories matching `query`, best first, each with `score` (and
    `similarity` for semantic hits); and the mode that answered."""
    runtime = agents.runtime_here(agent_id)
    indexer = runtime.embeddings if runtime is not None else None
    if not store.vectors:
        why = store.vector_reason
    elif runtime is None:
        why = "the agent is not running"
    else:
        why = "the agent has no TEXT_EMBEDDING model"
    mode = _resolve(query.mode, indexer is not None, why)
    page = query.page
    if mode is SearchMode.TEXT:
        hits = await store.read(lambda db: sq.search_memories(
            db, agent_id, query.text, room_id=room_id, table=table, page=page,
            match_all=query.match_all))
        return hits, mode
    assert indexer is not None
    vector = await _embed(indexer, query.text)
    nearest = await store.read(lambda db: vectors.nearest(
        db, agent_id, indexer.model, vector, k=query.window, room_id=room_id, table=table))
    nearest = [(mid, sim) for mid, sim in nearest if sim >= query.threshold]
    semantic = await store.read(sq.memories_by_ids, nearest)
    for hit in semantic:
        hit["score"] = hit["similarity"]
    if mode is SearchMode.SEMANTIC:
        return semantic[page.offset:page.offset + page.limit], mode
    text = await store.read(lambda db: sq.search_memories(
        db, agent_id, query.text, room_id=room_id, table=table,
        page=sq.Page(limit=query.window), match_all=query.match_all))
    fused = [{**hit, "score": score}
             for hit, score in fuse(text, semantic, key=lambda h: str(h["id"]))]
    return fused[page.offset:page.offset + page.limit], mode


# -- central messages -----------------------------------------------------------------------


async def _searching_agents(
    store: Store, agents: AgentDirectory, channel_id: str | None
) -> list[EmbeddingIndexer]:
    indexers = [rt.embeddings for rt in agents.runtimes() if rt.embeddings is not None]
    if channel_id is not None and indexers:
        members = set(await store.read(mq.participants, channel_id))
        indexers = [ix for ix in indexers if ix.runtime.agent_id in members]
    return indexers[:MAX_SEARCHING_AGENTS]


async def search_messages(
    store: Store, agents: AgentDirectory, query: Query, where: sq.MessageFilter = sq.NO_FILTER
) -> tuple[list[sq.MessageHit], SearchMode]:
    """Central messages matching `query`, best first: (row, server id, score)."""
    indexers = await _searching_agents(store, agents, where.channel_id)
    why = (store.vector_reason if not store.vectors
           else "no running agent with a TEXT_EMBEDDING model takes part")
    mode = _resolve(query.mode, bool(indexers), why)
    page = query.page
    if mode is SearchMode.TEXT:
        hits = await store.read(lambda db: sq.search_messages(
            db, query.text, where=where, page=page, match_all=query.match_all))
        return hits, mode
    memory_hits: list[tuple[str, float]] = []
    by_model: dict[str, list[float]] = {}
    for indexer in indexers:
        if indexer.model not in by_model:  # one query vector per model
            by_model[indexer.model] = await _embed(indexer, query.text)
        vector = by_model[indexer.model]
        agent_id = indexer.runtime.agent_id
        room_id = (ids.create_unique_uuid(agent_id, where.channel_id)
                   if where.channel_id is not None else None)
        memory_hits += await store.read(lambda db, ix=indexer, a=agent_id, r=room_id, v=vector:
                                        vectors.nearest(db, a, ix.model, v,
                                                        k=query.window * OVERSAMPLE, room_id=r,
                                                        table="messages"))
    memory_hits = [(mid, sim) for mid, sim in memory_hits if sim >= query.threshold]
    semantic = await store.read(sq.messages_of_memories, memory_hits, where)
    if mode is SearchMode.SEMANTIC:
        return semantic[page.offset:page.offset + page.limit], mode
    text = await store.read(lambda db: sq.search_messages(
        db, query.text, where=where, page=sq.Page(limit=query.window),
        match_all=query.match_all))
    fused = [(row, server_id, score) for (row, server_id, _), score
             in fuse(text, semantic, key=lambda h: str(h[0]["id"]))]
    return fused[page.offset:page.offset + page.limit], mode
