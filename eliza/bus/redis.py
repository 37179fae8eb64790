"""The Redis transport of `SharedBus`: one stream (XADD, trimmed to about `max_entries`),
read with a blocking XREAD that resumes after the last entry it saw.

Streams, not pub/sub: a pub/sub subscriber was seen to stay silent after a Redis restart
without raising, while a read loop that resumes from its last id notices and goes on.
coredis runs on anyio, so on trio without a bridge.

After a reconnect the reader checks the stream: if it is gone, or its newest id is below
the last one read, Redis restarted without persistence (whatever was in it is lost, which
the bus already counts as a gap, since the connection failed) and reading starts over from
the stream's beginning, or it would wait for ids the new stream reaches only much later.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import coredis
import trio
from coredis.exceptions import RedisError, ResponseError
from coredis.retry import NoRetryPolicy
from coredis.tokens import PureToken

from .transport import Backoff, SqlTransaction, one_line

if TYPE_CHECKING:
    from .shared import SharedBus

log = logging.getLogger(__name__)

FAILURES = (RedisError, OSError, trio.TooSlowError)
READ_COUNT = 512  # entries one XREAD returns at most


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error in a (possibly nested) group, for the log."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _stream_id(text: str) -> tuple[int, int]:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class RedisTransport:
    """Streams on the Redis at `url`."""

    name = "redis"
    max_frame_bytes = 256 * 1024

    def __init__(self, url: str, *, stream: str = "eliza:bus", max_entries: int = 100_000,
                 timeout: float = 5.0) -> None:
        self.url = url
        self.stream = stream
        self.max_entries = max_entries
        self.timeout = timeout
        self.restarts = 0  # times the stream was found restarted

    async def run(self, link: SharedBus) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._listen, link)
            nursery.start_soon(self._send, link)

    def stage(self, db: SqlTransaction, text: str) -> bool:
        return False  # Redis is no part of the database's transaction

    def _client(self, block: float = 0.0) -> coredis.Redis[str]:
        # No retries inside coredis: a failure ends this client and the loop makes another.
        return coredis.Redis.from_url(
            self.url, decode_responses=True, connect_timeout=self.timeout,
            stream_timeout=self.timeout + block, retry_policy=NoRetryPolicy())

    async def _knock(self) -> None:
        """Raise OSError unless the server accepts a TCP connection. A coredis client
        whose connection attempt fails leaves buffers behind for the garbage collector (and
        a ResourceWarning); while Redis is down, this is what the retries cost instead."""
        parts = urlsplit(self.url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            return
        with trio.fail_after(self.timeout):
            stream = await trio.open_tcp_stream(parts.hostname, parts.port or 6379)
        await stream.aclose()

    async def _listen(self, link: SharedBus) -> None:
        backoff = Backoff()
        last_id: str | None = None
        while True:
            failure: BaseException | None = None
            try:
                await self._knock()
                async with self._client(link.heartbeat_interval) as client:
                    last_id = await self._resume_from(client, last_id)
                    backoff.reset()
                    last_id = await self._read(client, link, last_id)
            except* FAILURES as group:  # coredis raises from a task group
                failure = _first(group)
            if failure is not None:
                link.link_failed(f"reading {self.stream} failed: {one_line(failure)}")
            await trio.sleep(backoff.next())

    async def _read(self, client: coredis.Redis[str], link: SharedBus, last_id: str) -> str:
        """Hand what arrives to the bus until it asks for a new connection."""
        block = link.heartbeat_interval
        epoch = link.reconnects
        while link.reconnects == epoch:
            with trio.fail_after(block + self.timeout):
                reply = await client.xread({self.stream: last_id}, count=READ_COUNT,
                                           block=int(block * 1000))
            entries = (reply or {}).get(self.stream, ())
            if entries:
                last_id = str(entries[-1].identifier)
                link.take([str(e.field_values.get("f", "")) for e in entries])
        return last_id

    async def _resume_from(self, client: coredis.Redis[str], last_id: str | None) -> str:
        with trio.fail_after(self.timeout):
            newest = await client.xrevrange(self.stream, count=1)
        top = str(newest[0].identifier) if newest else "0-0"
        if last_id is None:
            return top  # what was sent before this worker started is not for it
        if last_id != "0-0" and (not newest or _stream_id(top) < _stream_id(last_id)):
            self.restarts += 1
            log.warning("redis bus: the stream %s restarted (it is %s, its ids went back "
                        "from %s to %s); reading it from its beginning", self.stream,
                        "gone" if not newest else "there", last_id, top)
            return "0-0"
        return last_id

    async def _send(self, link: SharedBus) -> None:
        backoff = Backoff()
        while True:
            failure: BaseException | None = None
            try:
                await self._knock()
                async with self._client() as client:
                    backoff.reset()
                    epoch = link.reconnects
                    while link.reconnects == epoch:
                        batch = await link.next_batch()
                        await self._add(client, link, batch.frames)
            except* FAILURES as group:
                failure = _first(group)
            if failure is not None:
                link.link_failed(f"sending to {self.stream} failed: {one_line(failure)}")
            await trio.sleep(backoff.next())

    async def _add(self, client: coredis.Redis[str], link: SharedBus,
                   frames: list[tuple[str, int]]) -> None:
        for index, (text, events) in enumerate(frames):
            try:
                with trio.fail_after(self.timeout):
                    await client.xadd(self.stream, {"f": text},
                                      trim_strategy=PureToken.MAXLEN, threshold=self.max_entries,
                                      trim_operator=PureToken.APPROXIMATELY)
            except ResponseError as exc:  # refused, not broken: go on
                link.send_refused(events, f"XADD: {one_line(exc)}")
                continue
            except FAILURES as exc:
                unsent = sum(n for _, n in frames[index:])
                link.send_failed(unsent, f"XADD failed: {one_line(exc)}")
                raise
            link.sent(events)

