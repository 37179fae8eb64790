"""The built-in ELIZA model: Weizenbaum's DOCTOR script as the lowest-priority text model for
every agent, so a fresh install converses with no API key.

Each (agent, room) pair keeps its own conversation state (reassembly rotation, memory), in a
bounded LRU map so that many rooms cannot grow memory without bound.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl
from .doctor import Doctor
from .models import FALLBACK_PRIORITY, ModelProvider, ModelType

if TYPE_CHECKING:
    from .agent import AgentRuntime

MAX_CONVERSATIONS = 10_000
TITLE_WORDS = 6


class Conversations:
    def __init__(self, capacity: int = MAX_CONVERSATIONS) -> None:
        self.capacity = capacity
        self._doctors: OrderedDict[tuple[str, str], Doctor] = OrderedDict()

    def get(self, agent_id: str, room_id: str) -> Doctor:
        key = (agent_id, room_id)
        doctor = self._doctors.get(key)
        if doctor is None:
            doctor = self._doctors[key] = Doctor()
            if len(self._doctors) > self.capacity:
                self._doctors.popitem(last=False)
        else:
            self._doctors.move_to_end(key)
        return doctor


class ElizaModel:
    """The ELIZA model of one server. Each server gets its own (through `register_models`),
    so two servers in one process never share a conversation."""

    def __init__(self) -> None:
        self.conversations = Conversations()

    async def reply(self, runtime: AgentRuntime, params: dict[str, Any]) -> str:
        """Answer the latest user message (`params["message"]`, else the prompt's last
        line)."""
        text = params.get("message")
        if not isinstance(text, str):
            prompt = str(params.get("prompt") or "")
            text = prompt.strip().splitlines()[-1] if prompt.strip() else ""
        room = str(params.get("roomId") or "default")
        return self.conversations.get(runtime.agent_id, room).reply(text)

    async def small(self, runtime: AgentRuntime, params: dict[str, Any]) -> str:
        """TEXT_SMALL: titles and short summaries ask for `purpose="title"`; the rest is a
        reply."""
        if params.get("purpose") == "title":
            words = str(params.get("message") or params.get("prompt") or "").split()
            return " ".join(words[:TITLE_WORDS]).strip(" .,!?;:") or "New conversation"
        return await self.reply(runtime, params)


@hookimpl
def register_models(server: object) -> list[ModelProvider]:
    # `server` is the AgentServer; this module sits below it and does not import it.
    model = ElizaModel()
    return [
        ModelProvider(ModelType.TEXT_LARGE, model.reply, FALLBACK_PRIORITY),
        ModelProvider(ModelType.TEXT_SMALL, model.small, FALLBACK_PRIORITY),
    ]
