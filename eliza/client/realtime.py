"""The realtime client: Socket.IO v5 over Engine.IO v4 on one websocket (trio-websocket).

    async with open_realtime("http://127.0.0.1:3000") as rt:
        await rt.join(channel_id)
        ack = await rt.send(channel_id, "Men are all alike.")
        async for event in rt.events():
            ...

Packets are encoded and decoded by the server's own pure codec (`eliza.realtime.codec`).
One task (in the context manager's nursery) owns the connection: it answers pings, reads
events into a bounded buffer, and when the connection drops it reconnects with backoff,
CONNECTs again with the same auth, rejoins the channels and resubscribes to the log stream.
`connect` and `disconnect` pseudo-events mark those moments in `events()`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio
from trio_websocket import ConnectionClosed

from ..realtime.codec import SocketPacketType
from ._socket import (
    Connection,
    EventStream,
    Predicate,
    RealtimeEvent,
    _Waiter,
    frame,
    is_,
)
from .errors import RealtimeError
from .types import DEFAULT_SERVER_ID


class RealtimeClient(Connection):
    """Use through `open_realtime(...)`; its methods are safe to call from any task. Every
    wait has a deadline: `within` seconds, else the client's `within`."""

    # -- public API ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def dropped(self) -> int:
        """Events dropped because `events()` was not read fast enough."""
        return self._buffer.dropped

    def emit(self, event: str, *args: Any) -> None:
        """Queue an event for the server (sent once connected; raises if the queue is full)."""
        self._queue(frame(SocketPacketType.EVENT, [event, *args]))

    async def call(self, event: str, *args: Any, within: float | None = None) -> list[Any]:
        """Emit with an ack id and wait for the server's acknowledgement (its arguments)."""
        ack_id = self._next_ack
        self._next_ack += 1
        waiter = _Waiter(frozenset(), None)
        self._acks[ack_id] = waiter
        try:
            self._queue(frame(SocketPacketType.EVENT, [event, *args], ack_id))
            result = await self._await(waiter, within, f"the ack of {event!r}")
        finally:
            self._acks.pop(ack_id, None)
        return list(result.args)

    async def wait_for(self, name: str, predicate: Predicate | None = None, *,
                       within: float | None = None) -> RealtimeEvent:
        """The next `name` event (arriving from now on) whose data satisfies `predicate`.
        It is still delivered to `events()` as well. To catch the reply to something you
        are about to do, use `expect()` before doing it."""
        return await self.expect(name, predicate).wait(within=within)

    def expect(self, name: str, predicate: Predicate | None = None) -> Expectation:
        """Start watching for an event NOW (before the action that causes it); await its
        `wait()` later."""
        return Expectation(self, self._expect(name, predicate=predicate), name)

    async def join(self, channel_id: str, *, server_id: str | None = None,
                   agent_id: str | None = None, within: float | None = None) -> dict[str, Any]:
        """Join a channel's room (rejoined after every reconnect); returns `channel_joined`."""
        payload: dict[str, Any] = {"channelId": channel_id, "roomId": channel_id,
                                   "entityId": self.entity_id}
        if server_id:
            payload["serverId"] = payload["messageServerId"] = server_id
        if agent_id:
            payload["agentId"] = agent_id
        self._channels[channel_id] = payload
        waiter = self._expect("channel_joined", predicate=is_("channelId", channel_id))
        self.emit("message", {"type": 1, "payload": payload})
        event = await self._await(waiter, within, f"joining channel {channel_id}")
        return dict(event.data)

    async def send(
        self, channel_id: str, text: str, *, server_id: str = DEFAULT_SERVER_ID,
        sender_name: str = "User", metadata: Mapping[str, Any] | None = None,
        message_id: str | None = None, source: str = "client_chat",
        attachments: list[dict[str, Any]] | None = None, within: float | None = None,
    ) -> dict[str, Any]:
        """Send a chat message (`message` type 2); returns the server's `messageAck`
        (`{clientMessageId, messageId, status, channelId}`); `messageError` raises."""
        message_id = message_id or str(uuid.uuid4())
        payload: dict[str, Any] = {
            "senderId": self.entity_id, "senderName": sender_name, "message": text,
            "channelId": channel_id, "messageServerId": server_id, "serverId": server_id,
            "messageId": message_id, "source": source, "metadata": dict(metadata or {}),
        }
        if attachments:
            payload["attachments"] = attachments
        # The server puts a sender into the room; keep it there across reconnects too.
        self._channels.setdefault(channel_id, {"channelId": channel_id, "roomId": channel_id,
                                               "entityId": self.entity_id})
        waiter = self._expect("messageAck", "messageError",
                              predicate=is_("clientMessageId", message_id),
                              always=frozenset({"messageError"}))
        self.emit("message", {"type": 2, "payload": payload})
        event = await self._await(waiter, within, "the messageAck")
        if event.name == "messageError":
            raise RealtimeError(f"server refused the message: {event.data}")
        return dict(event.data)

    async def subscribe_logs(self, *, agent_name: str | None = None, level: str | None = None,
                             within: float | None = None) -> dict[str, Any]:
        """Subscribe to `log_stream` (kept across reconnects), optionally filtered."""
        self._log_filters = {k: v for k, v in (("agentName", agent_name), ("level", level)) if v}
        waiter = self._expect("log_subscription_confirmed", predicate=is_("subscribed", True))
        self.emit("subscribe_logs")
        event = await self._await(waiter, within, "log_subscription_confirmed")
        if self._log_filters:
            await self.wait_for_after_emit("log_filters_updated", "update_log_filters",
                                           self._log_filters, within=within)
        return dict(event.data)

    async def unsubscribe_logs(self, *, within: float | None = None) -> dict[str, Any]:
        self._log_filters = None
        event = await self.wait_for_after_emit("log_subscription_confirmed", "unsubscribe_logs",
                                               within=within)
        return dict(event.data)

    async def wait_for_after_emit(self, name: str, event: str, *args: Any,
                                  within: float | None = None) -> RealtimeEvent:
        """Emit `event` and wait for the next `name` reply (registered before emitting)."""
        waiter = self._expect(name)
        self.emit(event, *args)
        return await self._await(waiter, within, name)

    def events(self) -> EventStream:
        """Every event in arrival order, for `async for` (one reader at a time; breaking out
        is fine, nothing is lost); ends when the client is closed."""
        return EventStream(self._buffer)

    async def next_event(self, within: float | None = None) -> RealtimeEvent:
        with self._deadline(within, "the next event"):
            try:
                return await self._buffer.get()
            except trio.EndOfChannel:
                raise RealtimeError("the realtime client is closed") from None

    async def aclose(self) -> None:
        """Disconnect politely (`41`, then a close frame); the nursery does the rest."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            with trio.move_on_after(2):
                try:
                    await ws.send_message("41")
                    await ws.aclose()
                except ConnectionClosed:
                    pass
        self._finish(RealtimeError("the realtime client is closed"))



class Expectation:
    """An event being watched for since `RealtimeClient.expect()`."""

    def __init__(self, client: RealtimeClient, waiter: _Waiter, name: str) -> None:
        self._client = client
        self._waiter = waiter
        self.name = name

    async def wait(self, *, within: float | None = None) -> RealtimeEvent:
        return await self._client._await(self._waiter, within, self.name)


@asynccontextmanager
async def open_realtime(
    url: str, *, entity_id: str | None = None, api_key: str | None = None,
    reconnect: bool = True, within: float = 10.0, buffer_size: int = 1000,
    max_backoff: float = 5.0,
) -> AsyncIterator[RealtimeClient]:
    """Connect (raising `RealtimeError` if the first attempt fails) and yield the client;
    on exit disconnect and stop its task. `within` is the default deadline (seconds) of
    every wait."""
    client = RealtimeClient(url, entity_id=entity_id, api_key=api_key, reconnect=reconnect,
                            within=within, buffer_size=buffer_size, max_backoff=max_backoff)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(client.run)
            try:
                yield client
            finally:
                await client.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1 and not isinstance(group.exceptions[0],
                                                         BaseExceptionGroup):
            raise group.exceptions[0] from None
        raise
