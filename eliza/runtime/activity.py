"""What an agent does during a turn, told to the server log and to the person chatting.

Each step of a turn (the message it took in, whether it answers, the model call, the reply,
the run's end) is an INFO line carrying the agent's name and id, so `GET /api/server/logs`
(filtered by `agentName`), the web UI's Logs views and the `log_stream` socket event show
what each agent does, as the original ElizaOS runtime logs it. Secrets never reach the log:
the character's secret values and secret-looking parameters are masked.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import trio

from ..errors import ApiError
from ..security.secrets import secret_paths
from .character import SECRET_MASK

if TYPE_CHECKING:
    from .agent import AgentRuntime

PREVIEW = 80  # characters of a message shown in a log line
REASON_MAX = 300  # characters of a failure told to the person chatting
MIN_SECRET = 4  # shorter secret values are not searched for in text (too many false hits)
_SECRET_KEY = re.compile(r"key|token|secret|password|passwd|authorization|credential", re.I)


def preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW else flat[:PREVIEW - 1] + "…"


def _secret_values(runtime: AgentRuntime) -> list[str]:
    values = {str(v) for secrets in secret_paths(runtime.character)
              for v in secrets.values() if v is not None and len(str(v)) >= MIN_SECRET}
    return sorted(values, key=len, reverse=True)  # a secret inside another goes second


def mask_text(runtime: AgentRuntime, text: str) -> str:
    """`text` with every secret value of the agent's character replaced by the mask."""
    for value in _secret_values(runtime):
        text = text.replace(value, SECRET_MASK)
    return text


def masked_params(runtime: AgentRuntime, params: dict[str, Any]) -> dict[str, Any]:
    """A model call's parameters as they may be logged: secret-looking keys masked, and the
    character's secret values masked wherever they appear in text."""
    secrets = _secret_values(runtime)

    def clean(key: str, value: Any) -> Any:
        if _SECRET_KEY.search(key) and value is not None:
            return SECRET_MASK
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, SECRET_MASK)
            return value
        if isinstance(value, dict):
            return {str(k): clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(key, v) for v in value]
        return value if isinstance(value, int | float | bool) or value is None else str(value)

    return {str(k): clean(str(k), v) for k, v in params.items()}


def failure_reason(runtime: AgentRuntime, exc: BaseException) -> str:
    """Why a turn could not answer, in words for the person chatting (secrets masked)."""
    if isinstance(exc, trio.Cancelled | trio.TooSlowError):
        timeout = runtime.settings.turn_timeout
        return f"{runtime.name} could not answer in time (the turn took over {timeout:g} s)"
    if isinstance(exc, ApiError):  # e.g. no model for the message: its message says which
        reason = exc.message
    else:
        reason = f"{runtime.name} could not answer: {type(exc).__name__}: {exc}"
    reason = mask_text(runtime, reason)
    return reason if len(reason) <= REASON_MAX else reason[:REASON_MAX - 1] + "…"


def took_in(runtime: AgentRuntime, sender: str, room: str, text: str, answers: bool) -> None:
    runtime.log.info("%s received a message from %s in %s: %s", runtime.name, sender, room,
                     preview(mask_text(runtime, text)))
    runtime.log.info("%s %s", runtime.name, "will respond" if answers else
                     "decided not to respond (not addressed in a group)")


def run_started(runtime: AgentRuntime, run_id: str) -> None:
    runtime.log.info("%s started run %s", runtime.name, run_id)


def model_called(runtime: AgentRuntime, model_type: str, provider: str | None,
                 elapsed_ms: float) -> None:
    runtime.log.info("%s used model %s (%s) in %.0f ms", runtime.name, model_type,
                     provider or "built-in", elapsed_ms)


def replied(runtime: AgentRuntime, room: str, text: str) -> None:
    runtime.log.info("%s replied in %s: %s", runtime.name, room,
                     preview(mask_text(runtime, text)))


def run_ended(runtime: AgentRuntime, run_id: str, status: str, duration_ms: int) -> None:
    runtime.log.info("%s run %s %s in %d ms", runtime.name, run_id, status, duration_ms)
