"""Model types (as ElizaOS names them) and the per-agent model registry.

A text handler is `async def handler(runtime, params) -> str | AsyncIterator[str]`: the reply
text, or an async iterator of text chunks that the runtime streams. Handlers come from
plugins through the `register_models` hook; the highest priority wins for each type. A
TEXT_TO_SPEECH provider may also say which voices it offers (`ModelProvider.voices`).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .agent import AgentRuntime


class ModelType(enum.StrEnum):
    TEXT_SMALL = "TEXT_SMALL"
    TEXT_LARGE = "TEXT_LARGE"
    TEXT_EMBEDDING = "TEXT_EMBEDDING"
    TEXT_TOKENIZER_ENCODE = "TEXT_TOKENIZER_ENCODE"
    TEXT_TOKENIZER_DECODE = "TEXT_TOKENIZER_DECODE"
    TEXT_REASONING_SMALL = "REASONING_SMALL"
    TEXT_REASONING_LARGE = "REASONING_LARGE"
    TEXT_COMPLETION = "TEXT_COMPLETION"
    IMAGE = "IMAGE"
    IMAGE_DESCRIPTION = "IMAGE_DESCRIPTION"
    TRANSCRIPTION = "TRANSCRIPTION"
    TEXT_TO_SPEECH = "TEXT_TO_SPEECH"
    AUDIO = "AUDIO"
    VIDEO = "VIDEO"
    OBJECT_SMALL = "OBJECT_SMALL"
    OBJECT_LARGE = "OBJECT_LARGE"


ModelHandler = Callable[["AgentRuntime", dict[str, Any]], Awaitable[Any]]
TextResult = str | AsyncIterator[str]

# The built-in ELIZA model registers below every plugin's default.
DEFAULT_PRIORITY = 0
FALLBACK_PRIORITY = -100


@dataclass(frozen=True)
class Voice:
    """A voice a TEXT_TO_SPEECH provider offers. `id` is what selects it in the provider's
    own configuration (eliza-plugin-speech: the character setting SPEECH_VOICE)."""

    id: str
    name: str
    language: str | None = None
    gender: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "language": self.language,
                "gender": self.gender}


# `async def voices(runtime) -> Sequence[Voice]`: the voices a provider offers that agent.
VoiceLister = Callable[["AgentRuntime"], Awaitable[Sequence[Voice]]]


@dataclass(frozen=True)
class ModelProvider:
    """One model handler offered by a plugin. Higher `priority` wins. `voices` (optional,
    for TEXT_TO_SPEECH providers) lists the voices the handler can speak with; a provider
    without it offers no list."""

    model_type: ModelType
    handler: Callable[..., Any]
    priority: int = DEFAULT_PRIORITY
    plugin: str = ""
    voices: VoiceLister | None = None


class ModelRegistry:
    """The models one agent can use: the best provider per model type."""

    def __init__(self, providers: list[ModelProvider]) -> None:
        self._best: dict[ModelType, ModelProvider] = {}
        for provider in providers:
            current = self._best.get(provider.model_type)
            if current is None or provider.priority > current.priority:
                self._best[provider.model_type] = provider

    def get(self, model_type: ModelType) -> ModelProvider | None:
        return self._best.get(model_type)

    def has(self, model_type: ModelType) -> bool:
        return model_type in self._best

    def types(self) -> list[ModelType]:
        return sorted(self._best)
