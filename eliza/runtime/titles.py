"""A conversation's title, written by the agent's TEXT_SMALL model from the channel's
messages (the web UI asks for one to name a chat in its sidebar)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..store import messaging as mq
from .models import ModelType

if TYPE_CHECKING:
    from .agent import AgentRuntime

TITLE_MIN_MESSAGES = 4  # as ElizaOS: fewer messages give no title (and cost no model call)
TITLE_SOURCE_MESSAGES = 50


async def channel_title(runtime: AgentRuntime, channel_id: str) -> dict[str, Any]:
    """`{title, channelId, reason}`: a 3-6 word title, or None with the reason."""
    rows = await runtime.store.read(
        lambda db: mq.messages_for_channel(db, channel_id, limit=TITLE_SOURCE_MESSAGES)
    )
    if len(rows) < TITLE_MIN_MESSAGES:
        return {"title": None, "channelId": channel_id,
                "reason": "Not enough messages to generate a title"}
    rows.reverse()
    transcript = "\n".join(r["content"] for r in rows)
    first_user = next((r["content"] for r in rows if r["author_id"] != runtime.agent_id),
                      rows[0]["content"])
    title = await runtime.use_model(ModelType.TEXT_SMALL, {
        "purpose": "title",
        "prompt": "Summarize this conversation as a 3-6 word title. Reply with the title "
                  f"only.\n\n{transcript}",
        "message": first_user,
        "roomId": channel_id,
        "temperature": 0.3,
        "maxTokens": 50,
    })
    text = str(title or "").strip().strip("\"'").strip() or "New conversation"
    return {"title": text, "channelId": channel_id, "reason": None}
