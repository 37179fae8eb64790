"""`client.messaging`: message servers, channels and messages (`/api/messaging`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import trio

from ._http import JSONObject, Service, to_ms
from .errors import ElizaApiError
from .types import DEFAULT_SERVER_ID, Channel, Message

Cursor = int | float | datetime | None
CHANNELS = "/api/messaging/channels"


@dataclass(frozen=True, slots=True)
class Posted:
    """What `post_message` stored, and the agent's answer when `wait=True` got one."""

    message: Message
    agent_response: Message | None = None


class MessagingService(Service):
    # -- message servers ------------------------------------------------------------------

    async def current_server(self) -> str:
        """The id of the message server this process serves."""
        data = await self._http.get("/api/messaging/message-server/current")
        return str(data["messageServerId"])

    async def list_servers(self) -> list[JSONObject]:
        data = await self._http.get("/api/messaging/message-servers")
        return cast("list[JSONObject]", data["messageServers"])

    async def server_channels(self, server_id: str = DEFAULT_SERVER_ID) -> list[Channel]:
        data = await self._http.get(f"/api/messaging/message-servers/{server_id}/channels")
        return cast("list[Channel]", data["channels"])

    async def server_agents(self, server_id: str = DEFAULT_SERVER_ID) -> list[str]:
        data = await self._http.get(f"/api/messaging/message-servers/{server_id}/agents")
        return cast("list[str]", data["agents"])

    # -- channels -------------------------------------------------------------------------

    async def create_channel(
        self, name: str, *, server_id: str = DEFAULT_SERVER_ID, type: str = "GROUP",
        participants: Iterable[str] = (), metadata: Mapping[str, Any] | None = None,
    ) -> Channel:
        body: JSONObject = {"name": name, "message_server_id": server_id, "type": type,
                            "participantCentralUserIds": list(participants)}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return cast(Channel, await self._http.post(CHANNELS, body))

    async def create_group_channel(
        self, name: str, participants: Iterable[str], *, server_id: str = DEFAULT_SERVER_ID,
        metadata: Mapping[str, Any] | None = None,
    ) -> Channel:
        return await self.create_channel(name, server_id=server_id, type="GROUP",
                                         participants=participants, metadata=metadata)

    async def dm_channel(
        self, current_user_id: str, target_user_id: str, *, server_id: str = DEFAULT_SERVER_ID
    ) -> Channel:
        """The DM channel between two entities (a user and an agent), created on first use."""
        return cast(Channel, await self._http.get("/api/messaging/dm-channel", params={
            "currentUserId": current_user_id, "targetUserId": target_user_id,
            "dmServerId": server_id}))

    async def channel_details(self, channel_id: str) -> Channel:
        return cast(Channel, await self._http.get(f"{CHANNELS}/{channel_id}/details"))

    async def participants(self, channel_id: str) -> list[str]:
        return cast("list[str]", await self._http.get(f"{CHANNELS}/{channel_id}/participants"))

    async def add_agent(self, channel_id: str, agent_id: str) -> JSONObject:
        return cast(JSONObject, await self._http.post(f"{CHANNELS}/{channel_id}/agents",
                                                      {"agentId": agent_id}))

    async def remove_agent(self, channel_id: str, agent_id: str) -> JSONObject:
        return cast(JSONObject, await self._http.delete(
            f"{CHANNELS}/{channel_id}/agents/{agent_id}"))

    async def update_channel(
        self, channel_id: str, *, name: str | None = None,
        participants: Iterable[str] | None = None, metadata: Mapping[str, Any] | None = None,
    ) -> Channel:
        body: JSONObject = {}
        if name is not None:
            body["name"] = name
        if participants is not None:
            body["participantCentralUserIds"] = list(participants)
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return cast(Channel, await self._http.patch(f"{CHANNELS}/{channel_id}", body))

    async def delete_channel(self, channel_id: str) -> None:
        await self._http.delete(f"{CHANNELS}/{channel_id}")

    async def clear_channel(self, channel_id: str) -> None:
        """Delete every message of the channel."""
        await self._http.delete(f"{CHANNELS}/{channel_id}/messages")

    async def generate_title(self, channel_id: str, agent_id: str) -> JSONObject:
        """`{title, channelId, reason}`."""
        return cast(JSONObject, await self._http.post(f"{CHANNELS}/{channel_id}/generate-title",
                                                      {"agentId": agent_id}))

    # -- messages -------------------------------------------------------------------------

    async def post_message(
        self, channel_id: str, content: str, *, author_id: str,
        server_id: str = DEFAULT_SERVER_ID, metadata: Mapping[str, Any] | None = None,
        source_type: str | None = None, wait: bool = False,
    ) -> Posted:
        """Store a user message; agents in the channel answer asynchronously. With
        `wait=True` the server holds the answer until the agent's reply is stored (the
        "http" transport) and `Posted.agent_response` carries it."""
        body: JSONObject = {"content": content, "author_id": author_id,
                            "message_server_id": server_id, "metadata": dict(metadata or {})}
        if source_type:
            body["source_type"] = source_type
        if wait:
            body["transport"] = "http"
        answer = await self._http.post(f"{CHANNELS}/{channel_id}/messages", body, raw=True)
        return Posted(cast(Message, answer["userMessage"]),
                      cast("Message | None", answer.get("agentResponse")))

    async def messages(
        self, channel_id: str, *, limit: int = 50, before: Cursor = None, after: Cursor = None
    ) -> list[Message]:
        """Newest first. `before`/`after` are epoch ms or datetimes."""
        data = await self._http.get(f"{CHANNELS}/{channel_id}/messages", params={
            "limit": limit, "before": to_ms(before), "after": to_ms(after)})
        return cast("list[Message]", data["messages"])

    async def search(
        self, query: str, *, mode: str = "auto", channel_id: str | None = None,
        author_id: str | None = None, since: Cursor = None, until: Cursor = None,
        limit: int = 20, offset: int = 0,
    ) -> list[Message]:
        """Messages matching `query`, best first, each with `score`. `mode`: auto, text,
        semantic or hybrid; `since`/`until` bound `createdAt` (inclusive)."""
        body = {"query": query, "mode": mode, "channelId": channel_id, "authorId": author_id,
                "from": to_ms(since), "to": to_ms(until), "limit": limit, "offset": offset}
        data = await self._http.post(
            "/api/messaging/messages/search",
            {key: value for key, value in body.items() if value is not None})
        return cast("list[Message]", data["messages"])

    async def wait_for_reply(
        self, channel_id: str, to: Message, *, within: float = 10.0, poll: float = 0.05
    ) -> Message:
        """Poll until a message from someone other than `to`'s author answers it (or comes
        after it); `ElizaApiError("TIMEOUT")` after `within` seconds."""
        with trio.move_on_after(within):
            while True:
                for message in await self.messages(channel_id, after=to.get("created_at")):
                    if message.get("authorId") != to.get("authorId") and (
                        message.get("inReplyToRootMessageId") in (to.get("id"), None)
                    ):
                        return message
                await trio.sleep(poll)
        raise ElizaApiError("TIMEOUT", f"No reply in channel {channel_id} within {within}s")

    async def get_message(self, message_id: str) -> Message:
        return cast(Message, await self._http.get(f"/api/messaging/messages/{message_id}"))

    async def update_message(self, message_id: str, content: str) -> Message:
        return cast(Message, await self._http.patch(f"/api/messaging/messages/{message_id}",
                                                    {"content": content}))

    async def delete_message(self, channel_id: str, message_id: str) -> None:
        await self._http.delete(f"{CHANNELS}/{channel_id}/messages/{message_id}")

    async def submit(
        self, channel_id: str, author_id: str, content: str, *,
        server_id: str = DEFAULT_SERVER_ID, in_reply_to: str | None = None,
        metadata: Mapping[str, Any] | None = None, source_type: str = "agent_response",
    ) -> Message:
        """Store a message on an agent's behalf (what ElizaOS agents post back)."""
        body: JSONObject = {"channel_id": channel_id, "author_id": author_id, "content": content,
                            "message_server_id": server_id, "source_type": source_type,
                            "raw_message": {"text": content}}
        if in_reply_to:
            body["in_reply_to_message_id"] = in_reply_to
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return cast(Message, await self._http.post("/api/messaging/submit", body))

    async def complete(
        self, channel_id: str | None = None, *, message_id: str | None = None,
        server_id: str | None = None,
    ) -> JSONObject:
        """Tell the channel's sockets the agent is done (`messageComplete`)."""
        body: JSONObject = {}
        if channel_id:
            body["channel_id"] = channel_id
        if message_id:
            body["messageId"] = message_id
        if server_id:
            body["server_id"] = server_id
        return cast(JSONObject, await self._http.post("/api/messaging/complete", body))
