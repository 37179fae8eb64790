"""Persistence: the `Store` and `Transaction` protocols, the SQLite store, its migrations and
one module of queries per domain (every query takes a `Transaction`)."""

from .protocols import Cursor, Store, Transaction
from .schema import core as core_migrations
from .sqlite import SqliteStore

__all__ = ["Cursor", "SqliteStore", "Store", "Transaction", "core_migrations"]
