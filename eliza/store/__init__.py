"""Persistence: the SQLite store, its migrations and one module of queries per domain."""

from .db import Store
from .schema import core as core_migrations

__all__ = ["Store", "core_migrations"]
