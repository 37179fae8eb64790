"""Persistence: the `Store` and `Transaction` protocols, the SQLite and PostgreSQL stores,
their migrations and one module of queries per domain (every query takes a `Transaction`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol, TypeVar

import trio

from ..errors import DatabaseUnavailable
from .protocols import Cursor, Store, Transaction
from .schema import core as core_migrations
from .sqlite import SqliteStore

__all__ = ["Cursor", "SqliteStore", "Store", "Transaction", "core_migrations", "store_for",
           "when_available"]

T = TypeVar("T")


class StoreSettings(Protocol):
    """The settings a store is chosen and configured by (`eliza.settings.Settings`)."""

    @property
    def database_url(self) -> str | None: ...
    @property
    def db_path(self) -> Path: ...
    @property
    def postgres_pool_size(self) -> int: ...
    @property
    def postgres_connect_timeout(self) -> float: ...
    @property
    def postgres_statement_timeout(self) -> float: ...


def store_for(settings: StoreSettings) -> Store:
    """PostgreSQL when `POSTGRES_URL` (or `DATABASE_URL`) is set, else SQLite in the data
    directory."""
    if settings.database_url:
        from .postgres import PgStore

        return PgStore(settings.database_url, pool_size=settings.postgres_pool_size,
                       connect_timeout=settings.postgres_connect_timeout,
                       statement_timeout=settings.postgres_statement_timeout)
    return SqliteStore(settings.db_path)


async def when_available(call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, again and again (backing off from 0.5 s to 5 s) while the database is
    unavailable: background work waits out an outage instead of crashing on it."""
    delay = 0.5
    while True:
        try:
            return await call()
        except DatabaseUnavailable:
            await trio.sleep(delay)
            delay = min(5.0, delay * 2)
