"""The SQLite store: blocking sqlite-utils calls run in worker threads.

One connection writes (serialised by a CapacityLimiter(1)); a second one reads, so a long
write never blocks readers (WAL mode). The connections are opened with
`check_same_thread=False` because trio's thread pool does not pin a limiter to one thread;
the limiters guarantee each connection is used by one thread at a time.

The driver is `pysqlite3` when it is installed (sqlite-utils prefers it too): this Python's
own `sqlite3` cannot load extensions, and the vector index (sqlite-vec, `eliza.store.vectors`)
is an extension. Without it the store works the same, with no vector search.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import trio
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .protocols import Cursor, Params

T = TypeVar("T")
P = ParamSpec("P")

log = logging.getLogger(__name__)


def _driver() -> ModuleType:
    try:
        return importlib.import_module("pysqlite3.dbapi2")
    except ImportError:
        return importlib.import_module("sqlite3")


sqlite = _driver()


def _load_vec(conn: object) -> bool:
    """Load sqlite-vec into `conn`; False when the driver or the package cannot."""
    try:
        import sqlite_vec
    except ImportError:
        return False
    enable = getattr(conn, "enable_load_extension", None)
    if enable is None:
        return False
    try:
        enable(True)
        sqlite_vec.load(conn)
    except sqlite.Error as exc:
        log.warning("sqlite-vec did not load (%s): vector search is off", exc)
        return False
    finally:
        enable(False)
    return True


def _connect(path: Path) -> tuple[Database, bool]:
    conn = sqlite.connect(path, check_same_thread=False, isolation_level=None)
    vectors = _load_vec(conn)
    db = Database(conn, execute_plugins=False)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 5000")
    return db, vectors


class SqliteTransaction:
    """The `Transaction` protocol over one sqlite-utils connection."""

    __slots__ = ("db",)

    def __init__(self, db: Database) -> None:
        self.db = db

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        cursor: Cursor = self.db.execute(sql, params)  # type: ignore[arg-type]
        return cursor

    def executemany(self, sql: str, rows: Iterable[Params]) -> Cursor:
        cursor: Cursor = self.db.conn.executemany(sql, rows)
        return cursor

    def query(self, sql: str, params: Params = ()) -> Iterator[dict[str, Any]]:
        return self.db.query(sql, params)  # type: ignore[arg-type]

    def insert(self, table: str, row: Mapping[str, Any]) -> None:
        self.db.table(table).insert(dict(row))

    def update(self, table: str, pk: str, fields: Mapping[str, Any]) -> None:
        self.db.table(table).update(pk, dict(fields))

    def upsert(self, table: str, row: Mapping[str, Any], pk: str) -> None:
        self.db.table(table).upsert(dict(row), pk=pk)

    def table_exists(self, name: str) -> bool:
        return bool(self.db[name].exists())


class SqliteStore:
    """The `Store` of a server on SQLite. Open it with `open()`, close it with `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: SqliteTransaction | None = None
        self._reader: SqliteTransaction | None = None
        self._write_limiter = trio.CapacityLimiter(1)
        self._read_limiter = trio.CapacityLimiter(1)
        # True when sqlite-vec is loaded on both connections (semantic search can run).
        self.vectors = False

    def open_sync(self, migrations: Iterable[Migrations]) -> None:
        """Open both connections and apply pending migrations (blocking; run it in a thread)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer, vectors = _connect(self.path)
        writer.enable_wal()
        writer.execute("PRAGMA synchronous = NORMAL")
        if not vectors and _has_vector_tables(writer):
            writer.conn.close()
            raise RuntimeError(
                f"{self.path} has vector indexes but sqlite-vec cannot be loaded here:"
                " pip install sqlite-vec pysqlite3-binary"
            )
        for migration_set in migrations:
            migration_set.apply(writer)
        self._writer = SqliteTransaction(writer)
        self._reader = SqliteTransaction(_connect(self.path)[0])
        self.vectors = vectors
        if not vectors:
            log.info("sqlite-vec is not loaded: search is text only"
                     " (pip install sqlite-vec pysqlite3-binary)")

    async def open(self, migrations: Iterable[Migrations]) -> None:
        await trio.to_thread.run_sync(self.open_sync, list(migrations))

    def close(self) -> None:
        for tx in (self._writer, self._reader):
            if tx is not None:
                tx.db.conn.close()
        self._writer = self._reader = None

    # The two connections, outside any transaction (tests and maintenance use them).

    @property
    def writer(self) -> SqliteTransaction:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        return self._writer

    @property
    def reader(self) -> SqliteTransaction:
        if self._reader is None:
            raise RuntimeError("the store is not open")
        return self._reader

    async def write(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(tx, *args)` on the writer connection inside one transaction."""
        tx = self.writer

        def in_transaction() -> T:
            with tx.db.atomic():
                return fn(tx, *args)

        return await trio.to_thread.run_sync(in_transaction, limiter=self._write_limiter)

    async def read(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(tx, *args)` on the reader connection."""
        return await trio.to_thread.run_sync(fn, self.reader, *args, limiter=self._read_limiter)


def _has_vector_tables(db: Database) -> bool:
    # Their delete triggers need the extension: without it no memory could be deleted.
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND sql LIKE '%USING vec0%'"
    return bool(list(db.query(sql)))
