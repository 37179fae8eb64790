"""Shared helpers for the messaging tests: channel setup, posting, waiting for replies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

from eliza import ids
from eliza.bus import Event, Subscription
from tests.polling import wait_until

T = TypeVar("T")

ELIZA_ID = ids.string_to_uuid("Eliza")
USER_ID = "965189c0-221e-42f3-89eb-fb91df1f8fe8"
DEFAULT_SERVER = ids.DEFAULT_SERVER_ID


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 10.0,
                     what: str = "condition") -> T:
    """`wait_until` under the name and arguments the minilm plugin's tests import."""
    return await wait_until(check, within=within, message=what)


async def get_json(client: Any, path: str, status: int = 200, **kw: Any) -> Any:
    response = await client.get(path, **kw)
    body = await response.get_json()
    assert response.status_code == status, (path, response.status_code, body)
    return body


async def send_json(client: Any, method: str, path: str, body: Any = None, status: int = 200,
                    **kw: Any) -> Any:
    response = await getattr(client, method)(path, json=body if body is not None else {}, **kw)
    data = await response.get_json() if response.status_code != 204 else None
    assert response.status_code == status, (method, path, response.status_code, data)
    return data


async def create_channel(client: Any, participants: list[str], *, type_: str = "GROUP",
                         name: str = "test channel", metadata: Any = None) -> dict[str, Any]:
    body = {"name": name, "message_server_id": DEFAULT_SERVER,
            "participantCentralUserIds": participants, "type": type_}
    if metadata is not None:
        body["metadata"] = metadata
    created = await send_json(client, "post", "/api/messaging/channels", body, 201)
    return dict(created["data"])


async def post(client: Any, channel_id: str, text: str, author: str = USER_ID,
               **extra: Any) -> dict[str, Any]:
    body = {"author_id": author, "content": text, "message_server_id": DEFAULT_SERVER, **extra}
    answer = await send_json(client, "post", f"/api/messaging/channels/{channel_id}/messages",
                             body, 201)
    return dict(answer["data"])


async def messages(client: Any, channel_id: str, limit: int = 1000) -> list[dict[str, Any]]:
    body = await get_json(client, f"/api/messaging/channels/{channel_id}/messages?limit={limit}")
    return list(body["data"]["messages"])


async def replies(client: Any, channel_id: str, count: int, within: float = 10.0,
                  author: str | None = None) -> list[dict[str, Any]]:
    """Wait until the channel holds at least `count` agent replies; return them oldest first."""

    async def check() -> list[dict[str, Any]] | None:
        found = [m for m in await messages(client, channel_id)
                 if m["sourceType"] == "agent_response"
                 and (author is None or m["authorId"] == author)]
        return list(reversed(found)) if len(found) >= count else None

    return await wait_until(check, within=within, message=f"{count} replies in {channel_id}")


def drain(sub: Subscription) -> list[Event]:
    """Every event already queued for `sub`, without waiting."""
    out: list[Event] = []
    while True:
        try:
            out.append(sub.receive_nowait())
        except trio.WouldBlock:
            return out
