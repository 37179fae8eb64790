"""A worker process that only publishes: `python -m tests.bus.publisher <bus> <url> <stream>
<count>` starts a shared bus, publishes `count` routed messages to agent `agent-x` (their
text: the process id and their index), waits until they were sent and exits."""

from __future__ import annotations

import os
import sys

import trio

from eliza.bus import MessageRoute, NewMessage
from eliza.bus.postgres import PostgresTransport
from eliza.bus.redis import RedisTransport
from eliza.bus.shared import SharedBus
from eliza.bus.transport import Transport
from tests.polling import wait_until


async def main(kind: str, url: str, stream: str, count: int) -> None:
    transport: Transport = (PostgresTransport(url) if kind == "postgres"
                            else RedisTransport(url, stream=stream))
    bus = SharedBus(transport, f"w-child-{os.getpid()}", heartbeat_interval=0.2)
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        for index in range(count):
            bus.publish(NewMessage(
                {"id": f"m{index}", "channel_id": "c1", "content": f"{os.getpid()}:{index}"},
                route=MessageRoute(frozenset({"agent-x"}), {"id": "c1"}), origin="child"))
        await wait_until(lambda: bus.statistics()["sent"] >= count, within=5,
                         message="the messages to be sent")
        print("sent", count, flush=True)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
