"""The SQLite store: blocking sqlite-utils calls run in worker threads.

One connection writes (serialised by a CapacityLimiter(1)); a second one reads, so a long
write never blocks readers (WAL mode). The connections are opened with
`check_same_thread=False` because trio's thread pool does not pin a limiter to one thread;
the limiters guarantee each connection is used by one thread at a time.

The driver is `pysqlite3` when it is installed (sqlite-utils prefers it too): this Python's
own `sqlite3` cannot load extensions, and the vector index (sqlite-vec, `eliza.store.vectors`)
is an extension. Without it the store works the same, with no vector search.

A write the disk cannot take (full, read-only) raises `InsufficientStorage` (507) instead of
the driver's error; its transaction is rolled back and the writer stays usable, so writes
work again as soon as the disk does, and reads are never affected.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import trio
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .. import metrics
from ..errors import InsufficientStorage
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

    dialect = "sqlite"

    def __init__(self, db: Database) -> None:
        self.db = db

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        cursor: Cursor = self.db.execute(sql, params)  # type: ignore[arg-type]
        return cursor

    def executemany(self, sql: str, rows: Iterable[Params]) -> Cursor:
        cursor: Cursor = self.db.conn.executemany(sql, rows)
        return cursor

    def execute_batch(self, statements: Sequence[tuple[str, Params]]) -> None:
        for sql, params in statements:
            self.db.execute(sql, params)  # type: ignore[arg-type]

    def query(self, sql: str, params: Params = ()) -> Iterator[dict[str, Any]]:
        return self.db.query(sql, params)  # type: ignore[arg-type]

    def stream(self, sql: str, params: Params = ()) -> Iterator[dict[str, Any]]:
        return self.db.query(sql, params)  # type: ignore[arg-type]  # SQLite steps lazily

    def insert(self, table: str, row: Mapping[str, Any]) -> None:
        self.db.table(table).insert(dict(row))

    def update(self, table: str, pk: str, fields: Mapping[str, Any]) -> None:
        self.db.table(table).update(pk, dict(fields))

    def upsert(self, table: str, row: Mapping[str, Any], pk: str) -> None:
        self.db.table(table).upsert(dict(row), pk=pk)

    def table_exists(self, name: str) -> bool:
        return bool(self.db[name].exists())

    def lock(self, key: str) -> None:
        """Nothing to do: one connection writes, so writes already run one at a time."""


class SqliteStore:
    """The `Store` of a server on SQLite. Open it with `open()`, close it with `close()`."""

    dialect = "sqlite"
    vector_reason = "sqlite-vec is not loaded (pip install sqlite-vec pysqlite3-binary)"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: SqliteTransaction | None = None
        self._reader: SqliteTransaction | None = None
        self._write_limiter = trio.CapacityLimiter(1)
        self._read_limiter = trio.CapacityLimiter(1)
        # True when sqlite-vec is loaded on both connections (semantic search can run).
        self.vectors = False
        # Why writes fail now (DISK_FULL, READ_ONLY), None while they work; only the writer
        # thread (under the write limiter) touches it.
        self._fault: str | None = None

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
        """Run `fn(tx, *args)` on the writer connection inside one transaction. A disk that
        cannot take the write raises `InsufficientStorage`, with the transaction undone."""
        tx = self.writer

        def in_transaction() -> T:
            try:
                with tx.db.atomic():  # rolls back on any error, a failed COMMIT included
                    result = fn(tx, *args)
            except sqlite.Error as exc:
                fault = storage_fault(exc, self.path)
                if fault is None:
                    raise
                _ensure_rolled_back(tx)
                self._report_fault(fault, exc)
                raise fault from exc
            if self._fault is not None:
                log.warning("writes to %s work again", self.path)
                self._fault = None
            return result

        with metrics.STORE_WRITE.time():
            return await trio.to_thread.run_sync(in_transaction, limiter=self._write_limiter)

    def _report_fault(self, fault: InsufficientStorage, exc: Exception) -> None:
        # Once per outage, not once per refused write: a full disk can refuse thousands.
        reason = fault.details["reason"]
        if self._fault != reason:
            log.error("writes to %s fail: %s (%s)", self.path, reason, exc)
            self._fault = reason

    async def read(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(tx, *args)` on the reader connection."""
        with metrics.STORE_READ.time():
            return await trio.to_thread.run_sync(fn, self.reader, *args,
                                                 limiter=self._read_limiter)


def _has_vector_tables(db: Database) -> bool:
    # Their delete triggers need the extension: without it no memory could be deleted.
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND sql LIKE '%USING vec0%'"
    return bool(list(db.query(sql)))


# SQLite's primary result codes (the low byte of an extended code).
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
# Below this much free space an I/O error on write is taken for a full disk.
_NEARLY_FULL = 1024 * 1024
_WHAT = "the database"


def storage_fault(exc: Exception, path: Path) -> InsufficientStorage | None:
    """The `InsufficientStorage` a driver error on a write stands for, or None when it is not
    about the disk (a constraint, a bug: those stay what they are)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else _code_from_message(str(exc))
    if primary == _SQLITE_FULL:
        return InsufficientStorage.disk_full(_WHAT)
    if primary == _SQLITE_READONLY:
        return InsufficientStorage.read_only(_WHAT)
    if primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
        # SQLite reports ENOSPC on a write as FULL, but EROFS, EDQUOT and a failure to create
        # a file as plain I/O errors; the driver does not expose the errno, so ask the file
        # system what state it is in now.
        return _disk_state(path.parent)
    return None


def _code_from_message(message: str) -> int | None:
    # For a driver without `sqlite_errorcode`: SQLite's fixed English messages.
    for text, code in (("database or disk is full", _SQLITE_FULL),
                       ("readonly database", _SQLITE_READONLY),
                       ("disk I/O error", _SQLITE_IOERR),
                       ("unable to open database file", _SQLITE_CANTOPEN)):
        if text in message:
            return code
    return None


def _disk_state(directory: Path) -> InsufficientStorage | None:
    try:
        stat = os.statvfs(directory)
    except OSError:
        return None
    if stat.f_flag & os.ST_RDONLY:
        return InsufficientStorage.read_only(_WHAT)
    if stat.f_bavail * stat.f_frsize < _NEARLY_FULL:
        return InsufficientStorage.disk_full(_WHAT)
    return None


def _ensure_rolled_back(tx: SqliteTransaction) -> None:
    """Leave the writer outside any transaction, so the next write can begin its own."""
    conn = tx.db.conn
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite.Error:
            log.exception("could not roll back the failed write on %s", tx.db)
