"""Following one job: waiting until the agent replied, its turn failed, or the job's time is
up, through the messaging service's reply wait (the one the sessions' http transport uses).
Its subscription is opened before the job's message is posted, so nothing that follows it
can be missed; one that falls behind the bus is replaced and the store is read again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import AgentTurnFailed

if TYPE_CHECKING:
    from ..bus import Subscription
    from .service import JobService


@dataclass(frozen=True)
class Ending:
    """How the wait for a job ended: its time ran out, or the agent's turn failed (why, as
    the channel is told), or neither (the reply is stored)."""

    timed_out: bool = False
    error: str | None = None


async def follow(service: JobService, job: dict[str, Any], replies: Subscription) -> Ending:
    within = (job["expires_at"] - service.clock()) / 1000
    if within <= 0:  # (a wait of 0 s would be no deadline at all)
        return Ending(timed_out=True)
    try:
        reply = await service.messaging.wait_for_reply(
            job["channel_id"], job["user_message_id"], within=within,
            author_id=job["agent_id"], watching=replies)
    except AgentTurnFailed as exc:
        return Ending(error=exc.message)
    return Ending(timed_out=reply is None)
