"""What the audio routes know of an agent's voice: the voices its TEXT_TO_SPEECH provider
offers, and the state of its voice conversations.

The state is kept per running agent (its runtime), in the worker that runs it (the audio
routes are carried there), so a restarted agent starts afresh.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import trio

from ..clock import now_ms
from ..errors import ApiError
from ..runtime.models import ModelProvider, ModelType, Voice

if TYPE_CHECKING:
    from ..runtime.agent import AgentRuntime

log = logging.getLogger(__name__)


@dataclass
class ConversationState:
    in_flight: int = 0
    completed: int = 0
    failed: int = 0
    last_answered_ms: int | None = None
    last_error: dict[str, Any] | None = None

    def failed_with(self, code: str, message: str) -> None:
        self.failed += 1
        self.last_error = {"code": code, "message": message, "at": now_ms()}


_STATES: WeakKeyDictionary[AgentRuntime, ConversationState] = WeakKeyDictionary()


@contextmanager
def conversation(runtime: AgentRuntime) -> Iterator[None]:
    """Count one voice conversation of the agent while it runs, and its outcome once it
    ends. One the client abandons (cancelled) is neither answered nor failed."""
    state = _STATES.get(runtime)
    if state is None:
        state = _STATES[runtime] = ConversationState()
    state.in_flight += 1
    try:
        yield
    except ApiError as exc:
        state.failed_with(exc.code, exc.message)
        raise
    except Exception:
        # An unexpected failure answers 500 INTERNAL_ERROR without its detail; so does this.
        state.failed_with("INTERNAL_ERROR", "Internal server error")
        raise
    else:
        state.completed += 1
        state.last_answered_ms = now_ms()
    finally:
        state.in_flight -= 1


def status(runtime: AgentRuntime) -> dict[str, Any]:
    """Whether the agent can hear and speak, and how its voice conversations went."""
    state = _STATES.get(runtime) or ConversationState()
    hearing = runtime.models.get(ModelType.TRANSCRIPTION)
    speaking = runtime.models.get(ModelType.TEXT_TO_SPEECH)
    return {
        "agentId": runtime.agent_id,
        "agentName": runtime.name,
        "canHear": hearing is not None,
        "canSpeak": speaking is not None,
        "models": {ModelType.TRANSCRIPTION.value: hearing.plugin if hearing else None,
                   ModelType.TEXT_TO_SPEECH.value: speaking.plugin if speaking else None},
        "inFlight": state.in_flight,
        "completed": state.completed,
        "failed": state.failed,
        "lastConversationAt": state.last_answered_ms,
        "lastError": state.last_error,
    }


async def voices(runtime: AgentRuntime, provider: ModelProvider) -> dict[str, Any]:
    """The voices of the agent's TEXT_TO_SPEECH `provider`, listed under the model deadline.
    A provider that cannot list them answers none, and says so."""
    answer: dict[str, Any] = {"agentId": runtime.agent_id, "provider": provider.plugin,
                              "listsVoices": provider.voices is not None, "voices": []}
    if provider.voices is None:
        return answer
    timeout = runtime.settings.model_timeout
    try:
        with trio.fail_after(timeout if timeout > 0 else math.inf):
            listed = list(await provider.voices(runtime))
    except ApiError:
        raise
    except trio.TooSlowError:
        raise ApiError(f"Failed to list voices: {provider.plugin} took over {timeout} s",
                       code="PROCESSING_ERROR") from None
    except Exception as exc:
        log.warning("voice list of %s (%s) failed: %s", runtime.name, provider.plugin, exc)
        raise ApiError(f"Failed to list voices: {exc}", code="PROCESSING_ERROR") from None
    if not all(isinstance(voice, Voice) for voice in listed):
        raise ApiError(f"Failed to list voices: {provider.plugin} did not answer Voice objects",
                       code="PROCESSING_ERROR")
    answer["voices"] = [voice.to_json() for voice in listed]
    return answer
