"""The log of the whole deployment: each worker relays its own log entries to the others over
the bus, in small batches, so `/api/server/logs` and the Socket.IO log stream of any worker
show every worker's entries (from the moment that worker started)."""

from __future__ import annotations

import logging

import trio

from ..bus import LogRecords, MessageBus
from ..logs import LogBuffer, LogEntry

log = logging.getLogger(__name__)

BATCH_EVERY = 0.2  # seconds: entries are relayed at most this late
BATCH_MAX = 200  # entries per bus event (well under a notification's size)
QUEUE = 2000  # entries waiting to be relayed; past that they are counted and dropped


class LogRelay:
    def __init__(self, logs: LogBuffer, bus: MessageBus, worker_id: str) -> None:
        self.logs = logs
        self.bus = bus
        self.worker_id = worker_id
        self.dropped = 0
        self._send, self._receive = trio.open_memory_channel[dict[str, object] | None](QUEUE)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        token = trio.lowlevel.current_trio_token()

        def queue(entry: dict[str, object] | None) -> None:
            try:
                self._send.send_nowait(entry)
            except trio.WouldBlock:
                self.dropped += 1  # a log storm: the local buffer still has them

        # Entries may be logged from any thread (the store's); the queue is trio's.
        self.logs.on_local = lambda entry: token.run_sync_soon(queue, entry)
        self.logs.on_local_clear = lambda: token.run_sync_soon(queue, None)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._send_batches)
                task_status.started()
                while True:  # a subscription that fell behind is replaced
                    with self.bus.subscribe("log-relay", {LogRecords.name},
                                            capacity=256) as relayed:
                        async for event in relayed:
                            assert isinstance(event, LogRecords)
                            if event.worker_id != self.worker_id:
                                self._take(event)
        finally:
            self.logs.on_local = None
            self.logs.on_local_clear = None

    def _take(self, event: LogRecords) -> None:
        if event.cleared:
            self.logs.clear(local=False)
        for record in event.records:
            self.logs.append(LogEntry.from_dict(record), local=False)

    async def _send_batches(self) -> None:
        async for first in self._receive:
            await trio.sleep(BATCH_EVERY)
            batch = [first]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            cleared = None in batch
            if cleared:  # what came before the clear is gone everywhere anyway
                batch = batch[len(batch) - batch[::-1].index(None):]
            self.bus.publish(LogRecords(self.worker_id, [e for e in batch if e is not None],
                                        cleared=cleared))
