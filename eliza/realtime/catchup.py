"""What the sockets of this worker missed while the shared bus was cut off: after a gap, the
messages stored since it began are broadcast to their channels' rooms, except those this
worker broadcast already (a bounded memory of recent broadcasts). Stream chunks and
`messageComplete` of the gap are not replayed: the stored reply itself is."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

REMEMBERED = 20_000  # recent broadcast message ids
REPLAY_LIMIT = 5_000  # messages replayed after one gap, at most
SLACK_MS = 2_000  # clocks of the workers may differ a little


class BroadcastMemory:
    """The ids of the messages broadcast lately, oldest forgotten first."""

    def __init__(self, capacity: int = REMEMBERED) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, message_id: str) -> None:
        self._ids[message_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids


async def replay_missed(
    since_ms: int,
    read: Callable[[int, int], Any],
    seen: BroadcastMemory,
    broadcast: Callable[[dict[str, Any]], None],
) -> int:
    """Broadcast the messages stored from `since_ms` (less some slack for clocks) that
    `seen` does not hold; returns how many."""
    structs = await read(since_ms - SLACK_MS, REPLAY_LIMIT)
    replayed = 0
    for struct in structs:
        if struct["id"] not in seen:
            broadcast(struct)
            replayed += 1
    if replayed:
        log.warning("replayed %d message(s) the bus missed to this worker's sockets", replayed)
    if len(structs) >= REPLAY_LIMIT:
        log.error("more than %d messages were stored during the bus gap; sockets may have "
                  "missed some (their clients see them on their next fetch)", REPLAY_LIMIT)
    return replayed
