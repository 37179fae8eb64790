"""Shared setup for the memory tests: a DM turn with the default agent Eliza, so it holds
real memories, rooms, a world and logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eliza import ids
from tests.messaging.helpers import (
    DEFAULT_SERVER,
    ELIZA_ID,
    USER_ID,
    create_channel,
    get_json,
    post,
    replies,
)
from tests.polling import wait_until

__all__ = ["DEFAULT_SERVER", "ELIZA_ID", "USER_ID", "Turn", "dm_turn", "error_of"]


@dataclass
class Turn:
    channel_id: str
    room_id: str
    message_id: str
    reply_id: str


async def dm_turn(client: Any, text: str = "I feel sad about my mother") -> Turn:
    """Post in a DM with Eliza, wait for her reply, its two memories and the turn's logs
    (run started, model call, run completed)."""
    channel = await create_channel(client, [USER_ID, ELIZA_ID], type_="DM", name="dm")
    posted = await post(client, channel["id"], text)
    (reply,) = await replies(client, channel["id"], 1)
    room_id = ids.create_unique_uuid(ELIZA_ID, channel["id"])

    async def stored() -> bool:
        mems = await get_json(client, f"/api/memory/{ELIZA_ID}/rooms/{room_id}/memories")
        logs = await get_json(client, f"/api/agents/{ELIZA_ID}/logs?roomId={room_id}")
        return len(mems["data"]["memories"]) == 2 and len(logs["data"]) == 3

    await wait_until(stored, message="memories and logs of the turn")
    return Turn(channel["id"], room_id, posted["id"], reply["id"])


async def error_of(client: Any, method: str, path: str, status: int,
                   body: Any = None) -> dict[str, Any]:
    """Send a request that must fail; return its `error` object after checking the
    envelope."""
    kw = {} if body is None else {"json": body}
    response = await getattr(client, method)(path, **kw)
    answer = await response.get_json()
    assert response.status_code == status, (method, path, response.status_code, answer)
    assert answer["success"] is False, answer
    error = answer["error"]
    assert isinstance(error, dict), answer
    assert error["code"], answer
    assert error["message"], answer
    return dict(error)
