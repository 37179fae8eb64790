"""The PostgreSQL store (`POSTGRES_URL`): psycopg 3 (sync) with a psycopg_pool pool, called
in worker threads under a `CapacityLimiter` the size of the pool.

The asyncio drivers do not run under trio, and a blocking driver in threads costs no more
per transaction than it does from a plain thread. Query functions are the same as on SQLite
(`fn(tx, *args)`, `?` placeholders); `PgTransaction` translates the placeholders, and the
few queries that differ (text search, vectors) branch on `tx.dialect`.

Reads run on autocommit connections (one round trip per statement, as SQLite's reader);
a write runs inside one transaction. A write that loses a race to a concurrent one (a
deadlock, a serialization failure, a unique key taken in between) is rolled back and run
again: its find-or-create then finds the winner's row, so it stays exactly-once with many
connections. A database that cannot be reached, or a statement past its deadline, raises
`DatabaseUnavailable` (503); the broken connections are dropped, and the pool reconnects
by itself when the database is back.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
import trio
from psycopg import errors as pg_errors
from psycopg.adapt import Dumper
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout
from sqlite_utils.migrations import Migrations

from .. import metrics
from ..errors import BadRequest, DatabaseUnavailable, StartupError
from .protocols import Cursor, Params

T = TypeVar("T")

log = logging.getLogger(__name__)

# A write that lost a race runs again at most this many times in all.
WRITE_ATTEMPTS = 4
_RACES = (pg_errors.UniqueViolation, pg_errors.SerializationFailure,
          pg_errors.DeadlockDetected)
# Errors that mean the database (or the way to it) is not there, not that the query is wrong.
_UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, PoolClosed)


@lru_cache(maxsize=4096)
def translate(sql: str, with_params: bool) -> str:
    """`?` placeholders to psycopg's `%s` (outside quoted strings and identifiers); with
    parameters, a literal `%` is doubled, as psycopg requires."""
    if not with_params:
        return sql
    out: list[str] = []
    for index, part in enumerate(re.split(r"""('(?:[^']|'')*'|"[^"]*")""", sql)):
        part = part.replace("%", "%%")
        out.append(part if index % 2 else part.replace("?", "%s"))
    return "".join(out)


class _BoolAsInteger(Dumper):
    """Booleans go into the INTEGER (0/1) columns the schema shares with SQLite."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def _value(value: Any) -> Any:
    # As sqlite-utils stores them: dicts and lists become JSON text.
    return json.dumps(value) if isinstance(value, dict | list | tuple) else value


def _params(params: Params) -> Params | None:
    return params if params else None


class PgTransaction:
    """The `Transaction` protocol over one pooled psycopg connection."""

    __slots__ = ("conn",)

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        args = _params(params)
        cursor: Cursor = self.conn.execute(
            translate(sql, args is not None), args)
        return cursor

    def executemany(self, sql: str, rows: Iterable[Params]) -> Cursor:
        cursor = self.conn.cursor()
        cursor.executemany(translate(sql, True), list(rows))
        return cursor

    def execute_batch(self, statements: Sequence[tuple[str, Params]]) -> None:
        # Pipeline mode: every statement goes out before any result is awaited.
        with self.conn.pipeline():
            for sql, params in statements:
                args = _params(params)
                self.conn.execute(translate(sql, args is not None), args)

    def query(self, sql: str, params: Params = ()) -> Iterator[dict[str, Any]]:
        args = _params(params)
        cursor = self.conn.cursor(row_factory=dict_row)
        cursor.execute(translate(sql, args is not None), args)
        return iter(cursor.fetchall())

    def stream(self, sql: str, params: Params = ()) -> Iterator[dict[str, Any]]:
        # One row per result (libpq's single-row mode): a row can be megabytes, and even
        # chunks of 4 rows let four concurrent listings of 2 MB rows hold more than a third
        # of what they sent. Stopping early cancels the query and drops what was already on
        # its way.
        args = _params(params)
        cursor = self.conn.cursor(row_factory=dict_row)
        yield from cursor.stream(translate(sql, args is not None), args)

    def insert(self, table: str, row: Mapping[str, Any]) -> None:
        columns = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" for _ in row)
        self.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})',
                     [_value(v) for v in row.values()])

    def update(self, table: str, pk: str, fields: Mapping[str, Any]) -> None:
        if not fields:
            return
        sets = ", ".join(f'"{c}" = ?' for c in fields)
        key = self.primary_key(table)
        self.execute(f'UPDATE "{table}" SET {sets} WHERE "{key}" = ?',
                     [*(_value(v) for v in fields.values()), pk])

    def upsert(self, table: str, row: Mapping[str, Any], pk: str) -> None:
        columns = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" for _ in row)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in row if c != pk)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        self.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})'
                     f' ON CONFLICT ("{pk}") {action}', [_value(v) for v in row.values()])

    def table_exists(self, name: str) -> bool:
        return bool(self.execute("SELECT to_regclass(?) IS NOT NULL",
                                 [f'"{name}"']).fetchone()[0])

    def lock(self, key: str) -> None:
        """Hold a lock on `key` until this transaction ends: find-or-creates that have no
        unique key to race on take one, so concurrent ones run one after the other."""
        self.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [key])

    def primary_key(self, table: str) -> str:
        return _primary_key(self.conn, table)


# Primary keys by table: the schema only changes in migrations, and `update` needs it often.
_PRIMARY_KEYS: dict[str, str] = {}


def _primary_key(conn: psycopg.Connection[Any], table: str) -> str:
    if table in _PRIMARY_KEYS:
        return _PRIMARY_KEYS[table]
    row = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary",
        [f'"{table}"']).fetchone()
    if row is None:
        return "id"
    _PRIMARY_KEYS[table] = str(row[0])
    return _PRIMARY_KEYS[table]


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured PostgreSQL URL"
    host = info.get("host") or "localhost"
    return f"postgresql://{info.get('user') or ''}{'@' if info.get('user') else ''}" \
           f"{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


class PgStore:
    """The `Store` of a server on PostgreSQL. Open it with `open()`, close it with `close()`."""

    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout: float = 10.0,
                 statement_timeout: float = 30.0) -> None:
        self.url = url
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.vectors = False
        self.vector_reason = "pgvector is not installed in this database"
        self._pool: ConnectionPool[Any] | None = None
        self._limiter = trio.CapacityLimiter(pool_size)
        # Why the database is unreachable now, None while it answers (logged once per outage).
        self._fault: str | None = None

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.adapters.register_dumper(bool, _BoolAsInteger)
        conn.execute("SELECT set_config('statement_timeout', %s, false)",
                     [f"{int(self.statement_timeout * 1000)}ms"])

    def open_sync(self, migrations: Iterable[Migrations]) -> None:
        """Connect (a one-line `StartupError` when that fails) and apply pending
        migrations (blocking; run it in a thread)."""
        from .pg_schema import apply_migrations, enable_vectors

        pool: ConnectionPool[Any] = ConnectionPool(
            # A fixed size: every connection is made at start, none under load.
            self.url, min_size=self.pool_size, max_size=self.pool_size, open=False,
            timeout=self.connect_timeout, configure=self._configure,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(self.connect_timeout)),
                    # A connection whose network went away mid-query (a partition, a proxy
                    # that dropped it) fails within the statement deadline instead of
                    # waiting forever for an answer that cannot come.
                    "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                    "keepalives_count": 3,
                    "tcp_user_timeout": int((self.statement_timeout + 5) * 1000)},
            name="eliza")
        try:
            pool.open(wait=True, timeout=self.connect_timeout)
        except PoolTimeout as exc:
            pool.close()
            raise StartupError(
                f"cannot connect to {describe(self.url)} within {self.connect_timeout:g}s:"
                f" {_last_error(self.url)}") from exc
        self._pool = pool
        with pool.connection() as conn:
            apply_migrations(conn, list(migrations))
            self.vectors, self.vector_reason = enable_vectors(conn)
        if not self.vectors:
            log.info("semantic search is off: %s", self.vector_reason)

    async def open(self, migrations: Iterable[Migrations]) -> None:
        await trio.to_thread.run_sync(self.open_sync, list(migrations))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @property
    def pool(self) -> ConnectionPool[Any]:
        if self._pool is None:
            raise RuntimeError("the store is not open")
        return self._pool

    async def read(self, fn: Callable[..., T], *args: object) -> T:
        with metrics.STORE_READ.time():
            return await trio.to_thread.run_sync(self._run, fn, args, False,
                                                 limiter=self._limiter)

    async def write(self, fn: Callable[..., T], *args: object) -> T:
        with metrics.STORE_WRITE.time():
            return await trio.to_thread.run_sync(self._run, fn, args, True,
                                                 limiter=self._limiter)

    def _run(self, fn: Callable[..., T], args: tuple[object, ...], write: bool) -> T:
        attempt = 1
        while True:
            try:
                result = self._once(fn, args, write)
            except _RACES:
                if not write or attempt >= WRITE_ATTEMPTS:
                    raise
                attempt += 1
                continue
            except _UNREACHABLE as exc:
                raise self._unreachable(exc) from exc
            except psycopg.DataError as exc:
                # PostgreSQL's text cannot hold U+0000 (SQLite's can): the client's input,
                # not the server, is at fault, and nothing was written.
                if "NUL" not in str(exc):
                    raise
                raise BadRequest("Text cannot contain the NUL character (\\u0000) when the"
                                 " server stores in PostgreSQL") from exc
            if self._fault is not None:
                log.warning("%s answers again", describe(self.url))
                self._fault = None
            return result

    def _once(self, fn: Callable[..., T], args: tuple[object, ...], write: bool) -> T:
        with self.pool.connection() as conn:
            tx = PgTransaction(conn)
            if not write:
                return fn(tx, *args)
            with conn.transaction():
                return fn(tx, *args)

    def _unreachable(self, exc: Exception) -> DatabaseUnavailable:
        if isinstance(exc, pg_errors.QueryCanceled):
            reason = ("a statement ran past POSTGRES_STATEMENT_TIMEOUT"
                      f" ({self.statement_timeout:g}s)")
        else:
            reason = f"{describe(self.url)} cannot be reached"
        if self._fault != reason:
            log.error("database unavailable: %s (%s)", reason, str(exc).strip())
            self._fault = reason
        # Drop the pooled connections the outage broke, so the next request reconnects.
        if self._pool is not None and not isinstance(exc, pg_errors.QueryCanceled):
            self._pool.check()
        return DatabaseUnavailable(f"The database is unavailable: {reason}; retry shortly",
                                   details={"reason": reason})


def _last_error(url: str) -> str:
    """Why a connection to `url` fails, in the driver's words (one line)."""
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return "the pool could not fill in time"
