"""The store's interface: what the services call (`Store`) and what every query function
receives (`Transaction`).

Query functions are plain synchronous functions `fn(tx, *args)`; the store runs them in a
worker thread, a write inside one transaction that commits when `fn` returns and rolls back
when it raises. SQLite (`eliza.store.sqlite`) and PostgreSQL (`eliza.store.postgres`)
implement these protocols; the services do not know which one they have.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlite_utils.migrations import Migrations

T = TypeVar("T")

Params = Sequence[Any] | Mapping[str, Any]


class Cursor(Protocol):
    """The result of `Transaction.execute`, as DB-API cursors give it."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Transaction(Protocol):
    """One connection, inside one transaction for writes. Values that are dicts or lists
    are stored as JSON text by `insert`, `update` and `upsert`. SQL uses `?` placeholders
    and what SQLite and PostgreSQL both understand; where they differ a query branches on
    `dialect` ("sqlite" or "postgresql")."""

    dialect: str

    def execute(self, sql: str, params: Params = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Params]) -> Cursor: ...

    def execute_batch(self, statements: Sequence[tuple[str, Params]]) -> None:
        """Run these statements in order, their results unread (PostgreSQL sends them in
        one round trip)."""
        ...

    def query(self, sql: str, params: Params = ()) -> Iterator[dict[str, Any]]:
        """Rows as dicts."""
        ...

    def stream(self, sql: str, params: Params = ()) -> Iterator[dict[str, Any]]:
        """Rows as dicts, fetched as they are read: rows past where the reader stops are
        never fetched. Run no other statement on this transaction until it is done."""
        ...

    def insert(self, table: str, row: Mapping[str, Any]) -> None: ...

    def update(self, table: str, pk: str, fields: Mapping[str, Any]) -> None:
        """Update the row whose primary key is `pk`."""
        ...

    def upsert(self, table: str, row: Mapping[str, Any], pk: str) -> None:
        """Insert the row, or update the existing one with the same `pk` column."""
        ...

    def table_exists(self, name: str) -> bool: ...

    def lock(self, key: str) -> None:
        """Serialise, until the end of this write, with every other write that locks `key`
        (a find-or-create with no unique key to race on)."""
        ...


class Store(Protocol):
    """The database of one server: open it, run reads and writes, close it."""

    dialect: str

    @property
    def vectors(self) -> bool:
        """Whether vector search is available (semantic search can run)."""
        ...

    @property
    def vector_reason(self) -> str:
        """Why vector search is not available (when `vectors` is False)."""
        ...

    async def open(self, migrations: Iterable[Migrations]) -> None:
        """Connect and apply pending migrations."""
        ...

    def close(self) -> None: ...

    async def read(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(tx, *args)` on a read connection."""
        ...

    async def write(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(tx, *args)` inside one write transaction."""
        ...
