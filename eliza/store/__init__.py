"""Persistence: the `Store` and `Transaction` protocols, the SQLite and PostgreSQL stores,
their migrations and one module of queries per domain (every query takes a `Transaction`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .protocols import Cursor, Store, Transaction
from .schema import core as core_migrations
from .sqlite import SqliteStore

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["Cursor", "SqliteStore", "Store", "Transaction", "core_migrations", "store_for"]


def store_for(settings: Settings) -> Store:
    """PostgreSQL when `POSTGRES_URL` (or `DATABASE_URL`) is set, else SQLite in the data
    directory."""
    if settings.database_url:
        from .postgres import PgStore

        return PgStore(settings.database_url, pool_size=settings.postgres_pool_size,
                       connect_timeout=settings.postgres_connect_timeout,
                       statement_timeout=settings.postgres_statement_timeout)
    return SqliteStore(settings.db_path)
