"""The minilm plugin's own tests, on the real all-MiniLM-L6-v2 (loaded once per session):
the vectors, the params it accepts, its registration, and an agent enabling it whose
memories get indexed and are found by meaning."""

from __future__ import annotations

import math
from importlib import metadata
from pathlib import Path
from typing import Any

import eliza_plugin_minilm as minilm
import pytest
import trio

from conftest import make_settings, open_app
from eliza.plugins import make_plugin_manager
from eliza.runtime.models import ModelType
from eliza.server import AgentServer
from eliza.store import vectors
from tests.messaging.helpers import (
    USER_ID,
    create_channel,
    eventually,
    post,
    replies,
    send_json,
)

pytestmark = pytest.mark.slow  # loads all-MiniLM-L6-v2 with torch

# The handler does not use its runtime; the server test below goes through a real one.
NO_RUNTIME: Any = None


@pytest.fixture(scope="session", autouse=True)
def model() -> Any:
    """Load the model once for the whole session (a few seconds)."""
    return minilm.load_model()


async def embed(params: Any) -> list[float]:
    return await minilm.text_embedding(NO_RUNTIME, params)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))


def test_the_model_loads_once(model: Any) -> None:
    assert minilm.load_model() is model


async def test_text_embedding_is_384_floats_of_unit_length() -> None:
    vector = await embed({"text": "The weather is lovely today."})
    assert len(vector) == minilm.DIMENSIONS == 384
    assert all(type(x) is float for x in vector)
    assert all(math.isfinite(x) for x in vector)
    assert math.hypot(*vector) == pytest.approx(1.0, abs=1e-4)
    assert len({round(x, 6) for x in vector}) > 100  # not a constant or mostly-zero vector


async def test_a_paraphrase_is_closer_than_an_unrelated_sentence() -> None:
    cat = await embed({"text": "The cat is sleeping on the sofa."})
    kitten = await embed({"text": "A kitten naps on the couch."})
    taxes = await embed({"text": "Quarterly tax filings are due at the end of April."})
    assert cosine(cat, kitten) > 0.5
    assert cosine(cat, taxes) < 0.2
    assert cosine(cat, kitten) > cosine(cat, taxes) + 0.3


async def test_same_text_same_vector_and_different_text_different_vector() -> None:
    first = await embed({"text": "purple elephants"})
    again = await embed({"text": "purple elephants"})
    other = await embed({"text": "green giraffes"})
    assert cosine(first, again) == pytest.approx(1.0, abs=1e-5)
    assert cosine(first, other) < 0.9


async def test_params_as_dict_or_bare_string() -> None:
    text = "Trio is a friendly async library for Python."
    as_dict = await embed({"text": text})
    as_string = await embed(text)
    assert cosine(as_dict, as_string) == pytest.approx(1.0, abs=1e-5)
    # Extra keys (as ElizaOS sends) are ignored.
    with_extra = await embed({"text": text, "roomId": "x"})
    assert cosine(as_dict, with_extra) == pytest.approx(1.0, abs=1e-5)


async def test_empty_and_very_long_texts_still_give_a_unit_vector() -> None:
    empty = await embed({"text": ""})
    assert len(empty) == 384
    assert math.hypot(*empty) == pytest.approx(1.0, abs=1e-4)
    huge = await embed({"text": "word " * 50_000})
    assert len(huge) == 384
    assert math.hypot(*huge) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("params", [
    {"text": 42},
    {"text": None},
    {"text": ["a list"]},
    {},
    {"prompt": "not the text key"},
    42,
    None,
    b"bytes",
])
async def test_a_non_string_text_raises_embedding_error(params: Any) -> None:
    with pytest.raises(minilm.EmbeddingError, match="text"):
        await embed(params)


def test_discoverable_through_the_eliza_entry_point_group() -> None:
    (entry,) = [ep for ep in metadata.entry_points(group="eliza") if ep.name == "minilm"]
    assert entry.value == "eliza_plugin_minilm"
    assert entry.load() is minilm
    pm = make_plugin_manager(allow=["minilm"])
    assert pm.get_plugin("minilm") is minilm
    assert make_plugin_manager(allow=[]).get_plugin("minilm") is None


# Semantic search on PostgreSQL needs pgvector, which the suite's PostgreSQL lacks; the
# server's own MiniLM tests run it on a PostgreSQL with pgvector (tests/search).
@pytest.mark.sqlite_only
async def test_agents_that_enable_minilm_get_text_embedding_and_semantic_search(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    server = AgentServer(settings, make_plugin_manager(allow=["minilm"]))
    async with open_app(settings, server) as app:
        (provider,) = server.model_providers["minilm"]
        assert provider.model_type is ModelType.TEXT_EMBEDDING
        assert provider.plugin == minilm.PLUGIN == "minilm"
        assert provider.handler is minilm.text_embedding

        on, _ = await server.agents.create({"name": "Indexer", "plugins": ["minilm"]})
        off, _ = await server.agents.create({"name": "Plain", "plugins": []})
        await server.agents.start(on.id)
        await server.agents.start(off.id)
        embedder, plain = server.agents.runtime(on.id), server.agents.runtime(off.id)
        assert embedder is not None
        assert plain is not None
        chosen = embedder.models.get(ModelType.TEXT_EMBEDDING)
        assert chosen is not None
        assert chosen.plugin == "minilm"
        assert plain.models.get(ModelType.TEXT_EMBEDDING) is None
        assert server.store.vectors
        assert embedder.embeddings is not None
        assert embedder.embeddings.model == "minilm"
        assert plain.embeddings is None
        vector = await embedder.use_model(ModelType.TEXT_EMBEDDING, {"text": "hello"})
        assert len(vector) == 384

        client = app.test_client()
        channel = await create_channel(client, [USER_ID, on.id], type_="DM", name="dm")
        said = "My grandmother grew tomatoes and beans in her vegetable garden"
        await post(client, channel["id"], said)
        await replies(client, channel["id"], 1)

        async def indexed() -> bool:
            pending = await server.store.read(vectors.pending_count, on.id)
            return pending == 0 and embedder.embeddings is not None \
                and embedder.embeddings.stored >= 2  # the message and the reply
        await eventually(indexed, within=30, what="the memories' vectors")

        path = f"/api/memory/{on.id}/memories/search"
        # No word in common with the message: only its meaning can find it.
        found = await send_json(client, "post", path, {"query": "farming crops outdoors",
                                                       "mode": "semantic"})
        assert found["data"]["mode"] == "semantic"
        hits = found["data"]["memories"]
        texts = [hit["content"]["text"] for hit in hits]
        assert said in texts
        ours = hits[texts.index(said)]
        assert 0.1 <= ours["similarity"] <= 1.0
        text_only = await send_json(client, "post", path, {"query": "farming crops outdoors",
                                                           "mode": "text"})
        assert text_only["data"]["memories"] == []

        refused = await client.post(f"/api/memory/{off.id}/memories/search",
                                    json={"query": "garden", "mode": "semantic"})
        assert refused.status_code == 503
        with trio.fail_after(10):
            await server.agents.stop(on.id)
            await server.agents.stop(off.id)
