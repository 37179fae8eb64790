"""The PostgreSQL transport of `SharedBus`: LISTEN/NOTIFY through psycopg's sync API.

The asyncio drivers do not run under trio, so each of the two connections lives in a
worker thread of its own: the listener waits in `conn.notifies()` (waking every
`POLL_SECONDS` to notice cancellation) and hands what arrives to the bus in the trio
thread; the sender takes batches from the bus and sends each frame with `pg_notify`.

A NOTIFY is delivered at COMMIT and dropped on ROLLBACK, so `stage` sends an event inside
the transaction that stores its row: the other workers get it only when the row is there.
A payload of `NOTIFY_LIMIT` bytes or more is refused by PostgreSQL: such a frame is stored
in `bus_payloads` and its reference (`ref:<id>`) sent instead; the listener reads it back.
Rows older than `keep_payloads` are deleted by the sender now and then.

The channel is named after the connection's schema (its `search_path`), so deployments
(or tests) that share a database in different schemas do not hear each other.

Every connect and statement runs under a deadline (`connect_timeout`, `statement_timeout`,
and TCP keepalives and `tcp_user_timeout` for a network that stops answering); after an
error the connection is dropped and made again with backoff.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg
import trio
from psycopg import sql

from .transport import Backoff, SqlTransaction, one_line

if TYPE_CHECKING:
    from .shared import SharedBus
    from .transport import Batch

log = logging.getLogger(__name__)

NOTIFY_LIMIT = 8000  # bytes: PostgreSQL refuses a payload this long or longer
POLL_SECONDS = 0.25  # how often the listener looks up from `notifies()` for cancellation
REF = "ref:"
# Errors after which the connection is not to be trusted (others refuse one statement).
_BROKEN = (psycopg.OperationalError, psycopg.InterfaceError)
# The bus's own table (migration m008): large frames, by id, for `keep_payloads` seconds.
STORE_PAYLOAD = "INSERT INTO bus_payloads (body, created_at) VALUES (?, ?) RETURNING id"
READ_PAYLOAD = "SELECT body FROM bus_payloads WHERE id = ?"
PRUNE_PAYLOADS = "DELETE FROM bus_payloads WHERE created_at < ?"
NOTIFY = "SELECT pg_notify(?, ?)"


def _psycopg(statement: str) -> str:
    return statement.replace("?", "%s")


def channel_for(schema: str | None) -> str:
    """The NOTIFY channel of the deployment whose tables are in `schema` (at most 63
    bytes, PostgreSQL's identifier length)."""
    name = f"eliza_bus:{schema or 'public'}"
    if len(name.encode()) > 63:
        name = "eliza_bus:" + hashlib.sha256((schema or "").encode()).hexdigest()[:40]
    return name


class PostgresTransport:
    """LISTEN/NOTIFY on the database at `url` (with the store's `search_path`)."""

    name = "postgres"
    max_frame_bytes = NOTIFY_LIMIT - 1

    def __init__(self, url: str, *, connect_timeout: float = 5.0,
                 statement_timeout: float = 5.0, keep_payloads: float = 600.0,
                 prune_every: float = 60.0) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.keep_payloads = keep_payloads
        self.prune_every = prune_every
        self.channel: str | None = None
        # The two threads live as long as the bus: they must not take the default
        # limiter's tokens from everything else that runs in threads.
        self._threads = trio.CapacityLimiter(2)
        self._listening = trio.Event()

    async def run(self, link: SharedBus) -> None:
        self._listening = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._in_thread, self._listen, link)
            nursery.start_soon(self._in_thread, self._send, link)

    async def _in_thread(self, fn: Callable[[SharedBus], None], link: SharedBus) -> None:
        # Cancelling this task makes `fn` return at its next check
        # (`trio.from_thread.check_cancelled`, or any call into trio).
        await trio.to_thread.run_sync(fn, link, limiter=self._threads)

    def stage(self, db: SqlTransaction, text: str) -> bool:
        if self.channel is None or db.dialect != "postgresql":
            return False
        if len(text) >= NOTIFY_LIMIT:  # frames are ASCII
            row = db.execute(STORE_PAYLOAD, [text, _now_ms()]).fetchone()
            text = f"{REF}{row[0]}"
        db.execute(NOTIFY, [self.channel, text])
        return True

    # -- in the threads -----------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(
            self.url, autocommit=True, connect_timeout=max(2, math.ceil(self.connect_timeout)),
            keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3,
            tcp_user_timeout=int(self.connect_timeout * 1000))
        try:
            conn.execute("SELECT set_config('statement_timeout', %s, false)",
                         [f"{int(self.statement_timeout * 1000)}ms"])
            schema = conn.execute("SELECT current_schema()").fetchone()
            self.channel = channel_for(schema[0] if schema else None)
        except BaseException:
            conn.close()
            raise
        return conn

    def _listen(self, link: SharedBus) -> None:
        backoff = Backoff()
        while True:
            trio.from_thread.check_cancelled()
            try:
                with self._connect() as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel or "")))
                    trio.from_thread.run_sync(self._listening.set)
                    backoff.reset()
                    epoch = link.reconnects
                    while link.reconnects == epoch:
                        trio.from_thread.check_cancelled()
                        # Returns with the first packet of notifications, or empty-handed
                        # after POLL_SECONDS.
                        texts = [n.payload for n in
                                 conn.notifies(timeout=POLL_SECONDS, stop_after=1)]
                        if texts:
                            texts = self._resolve(conn, texts, link)
                            trio.from_thread.run_sync(link.take, texts)
            except psycopg.Error as exc:
                trio.from_thread.run_sync(link.link_failed,
                                          f"the listening connection failed: {one_line(exc)}")
                trio.from_thread.run(trio.sleep, backoff.next())

    def _resolve(self, conn: psycopg.Connection[Any], texts: list[str],
                 link: SharedBus) -> list[str]:
        """The frames, with each reference read back from `bus_payloads`."""
        out = []
        for text in texts:
            if not text.startswith(REF):
                out.append(text)
                continue
            row = None
            if text[len(REF):].isdigit():
                row = conn.execute(_psycopg(READ_PAYLOAD), [int(text[len(REF):])]).fetchone()
            if row is None:
                since = _now_ms() - int(self.keep_payloads * 1000)
                trio.from_thread.run_sync(link.lost, f"no stored payload for {text!r}", since)
                continue
            out.append(str(row[0]))
        return out

    def _send(self, link: SharedBus) -> None:
        backoff = Backoff()
        pruned = 0.0
        # A first heartbeat sent before the LISTEN would be missed, and the bus would count
        # as up only at the next one, a heartbeat interval later.
        trio.from_thread.run(self._listening.wait)
        while True:
            trio.from_thread.check_cancelled()
            try:
                conn = self._connect()
            except psycopg.Error as exc:
                trio.from_thread.run_sync(link.link_failed,
                                          f"cannot connect to send: {one_line(exc)}")
                trio.from_thread.run(trio.sleep, backoff.next())
                continue
            with conn:
                backoff.reset()
                epoch = link.reconnects
                while link.reconnects == epoch:
                    batch = trio.from_thread.run(link.next_batch)
                    try:
                        self._notify(conn, batch)
                    except _BROKEN as exc:
                        trio.from_thread.run_sync(link.send_failed, batch.events,
                                                  f"sending failed: {one_line(exc)}")
                        break
                    except psycopg.Error as exc:  # refused, not broken: go on
                        trio.from_thread.run_sync(link.send_refused, batch.events,
                                                  one_line(exc))
                        continue
                    trio.from_thread.run_sync(link.sent, batch.events)
                    if time.monotonic() - pruned > self.prune_every:
                        pruned = time.monotonic()
                        if not self._prune(conn, link):
                            break
            trio.from_thread.run(trio.sleep, backoff.next())

    def _prune(self, conn: psycopg.Connection[Any], link: SharedBus) -> bool:
        """Delete payload rows past `keep_payloads`; False when the connection broke."""
        try:
            conn.execute(_psycopg(PRUNE_PAYLOADS), [_now_ms() - int(self.keep_payloads * 1000)])
        except _BROKEN as exc:
            trio.from_thread.run_sync(link.link_failed, f"pruning failed: {one_line(exc)}")
            return False
        except psycopg.Error as exc:
            log.warning("postgres bus: cannot delete old rows of bus_payloads: %s",
                        one_line(exc))
        return True

    def _notify(self, conn: psycopg.Connection[Any], batch: Batch) -> None:
        if len(batch.frames) == 1:
            self._notify_one(conn, batch.frames[0][0])  # one statement: its own transaction
            return
        # One transaction: the batch's frames arrive together and in order, or not at all.
        with conn.transaction():
            for text, _ in batch.frames:
                self._notify_one(conn, text)

    def _notify_one(self, conn: psycopg.Connection[Any], text: str) -> None:
        if len(text) >= NOTIFY_LIMIT:  # frames are ASCII
            row = conn.execute(_psycopg(STORE_PAYLOAD), [text, _now_ms()]).fetchone()
            text = f"{REF}{row[0] if row else ''}"
        conn.execute(_psycopg(NOTIFY), [self.channel, text])


def _now_ms() -> int:
    return int(time.time() * 1000)
