"""The log stream for Server-Sent Events: every captured log entry (this worker's and those
the deployment relays here, as `/api/server/logs` lists them) handed to each open stream.

Entries come from any thread (the log capture is a logging handler): they reach trio through
a `ThreadHandoff` (bounded: past `QUEUE` the oldest are dropped and counted), as the
Socket.IO log stream's do. Each stream has its own bounded buffer
(`STREAM_BUFFER` entries); a client that reads too slowly to keep it from filling is cut
off (its stream ends with a `dropped` event), so a slow reader never holds up logging or
grows the server's memory. `close()` ends every stream (the server is stopping) and
refuses new ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from .handoff import ThreadHandoff
from .logs import LogBuffer

QUEUE = 512
STREAM_BUFFER = 256

Filter = Callable[[dict[str, Any]], bool]


class FeedClosed(Exception):
    """The server is stopping: no new log streams."""


@dataclass(eq=False)
class LogSubscription:
    """One open stream: iterate `receive` until it raises trio.EndOfChannel; `dropped`
    then says whether it was cut off for falling behind (else the server stopped)."""

    wanted: Filter
    send: trio.MemorySendChannel[dict[str, Any]]
    receive: trio.MemoryReceiveChannel[dict[str, Any]]
    dropped: bool = field(default=False)


class LogFeed:
    def __init__(self, logs: LogBuffer) -> None:
        self.logs = logs
        self.subscriptions: set[LogSubscription] = set()
        # Entries handed to trio (those it dropped in a burst are counted there).
        self.handoff: ThreadHandoff[dict[str, Any]] = ThreadHandoff(QUEUE, self._deliver)
        self.cut_off = 0  # streams ended for falling behind
        self.closed = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Listen to the log capture until cancelled, then end every stream."""
        self.handoff.token = trio.lowlevel.current_trio_token()
        self.logs.add_listener(self._on_entry)
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            self.logs.remove_listener(self._on_entry)
            self.handoff.token = None
            self.close()

    def _on_entry(self, entry: dict[str, Any]) -> None:
        """Called by the log capture, possibly from another thread."""
        if self.subscriptions:
            self.handoff.put(entry)

    def subscribe(self, wanted: Filter) -> LogSubscription:
        if self.closed or self.handoff.token is None:
            raise FeedClosed("the server is stopping")
        send, receive = trio.open_memory_channel[dict[str, Any]](STREAM_BUFFER)
        subscription = LogSubscription(wanted, send, receive)
        self.subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: LogSubscription) -> None:
        self.subscriptions.discard(subscription)
        subscription.send.close()
        subscription.receive.close()

    def close(self) -> None:
        """End every stream (they see the end of their channel) and refuse new ones."""
        self.closed = True
        for subscription in list(self.subscriptions):
            subscription.send.close()
        self.subscriptions.clear()

    def statistics(self) -> dict[str, Any]:
        return {"streams": len(self.subscriptions), "queued": len(self.handoff.queue),
                "queueCapacity": QUEUE, "streamBuffer": STREAM_BUFFER,
                "buffered": [s.send.statistics().current_buffer_used
                             for s in self.subscriptions],
                "lost": self.handoff.dropped, "cutOff": self.cut_off, "closed": self.closed}

    # -- entries --------------------------------------------------------------------------

    def _deliver(self, entries: list[dict[str, Any]]) -> None:
        for subscription in list(self.subscriptions):
            for entry in entries:
                if not subscription.wanted(entry):
                    continue
                try:
                    subscription.send.send_nowait(entry)
                except trio.WouldBlock:
                    self._cut_off(subscription)
                    break
                except trio.ClosedResourceError:
                    self.subscriptions.discard(subscription)
                    break

    def _cut_off(self, subscription: LogSubscription) -> None:
        # Ends the stream after what it has buffered: the client sees where it was cut.
        subscription.dropped = True
        self.cut_off += 1
        self.subscriptions.discard(subscription)
        subscription.send.close()
