"""SQLite access from trio: blocking sqlite-utils calls run in worker threads.

One connection writes (serialised by a CapacityLimiter(1)); a second one reads, so a long
write never blocks readers (WAL mode). The connections are opened with
`check_same_thread=False` because trio's thread pool does not pin a limiter to one thread;
the limiters guarantee each connection is used by one thread at a time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ParamSpec, TypeVar

import trio
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

T = TypeVar("T")
P = ParamSpec("P")


def _connect(path: Path) -> Database:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db = Database(conn, execute_plugins=False)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 5000")
    return db


class Store:
    """The database of one server. Open it with `open()`, close it with `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: Database | None = None
        self._reader: Database | None = None
        self._write_limiter = trio.CapacityLimiter(1)
        self._read_limiter = trio.CapacityLimiter(1)

    def open_sync(self, migrations: Iterable[Migrations]) -> None:
        """Open both connections and apply pending migrations (blocking; run it in a thread)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = _connect(self.path)
        writer.enable_wal()
        writer.execute("PRAGMA synchronous = NORMAL")
        for migration_set in migrations:
            migration_set.apply(writer)
        self._writer = writer
        self._reader = _connect(self.path)

    async def open(self, migrations: Iterable[Migrations]) -> None:
        await trio.to_thread.run_sync(self.open_sync, list(migrations))

    def close(self) -> None:
        for db in (self._writer, self._reader):
            if db is not None:
                db.conn.close()
        self._writer = self._reader = None

    @property
    def writer(self) -> Database:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        return self._writer

    @property
    def reader(self) -> Database:
        if self._reader is None:
            raise RuntimeError("the store is not open")
        return self._reader

    async def write(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(db, *args)` on the writer connection inside one transaction."""
        db = self.writer

        def in_transaction() -> T:
            with db.atomic():
                return fn(db, *args)

        return await trio.to_thread.run_sync(in_transaction, limiter=self._write_limiter)

    async def read(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(db, *args)` on the reader connection."""
        return await trio.to_thread.run_sync(fn, self.reader, *args, limiter=self._read_limiter)
