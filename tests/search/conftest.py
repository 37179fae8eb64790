"""Fixtures of the search tests: the stores semantic search runs on.

A test that asks for `vector_backend` runs once per store with vectors: `sqlite`
(sqlite-vec) and `pgvector` (PostgreSQL with pgvector, the embedded server of
`pgvector_server`). The suite's own PostgreSQL has no pgvector, so such a test does not also
run on the `postgres` backend (text search tests do, through the suite's `backend`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eliza.store import Store
from eliza.store.postgres import PgStore, PgTransaction
from eliza.store.protocols import Transaction
from eliza.store.schema import core
from eliza.store.sqlite import SqliteStore

from .pgvector_server import pgvector_server, pgvector_url

__all__ = ["pgvector_server", "pgvector_url"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    dropped = [item for item in items
               if "vector_backend" in getattr(item, "fixturenames", ())
               and getattr(item, "callspec", None) is not None
               and item.callspec.params.get("backend") == "postgres"]  # type: ignore[attr-defined]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture(params=["sqlite", "pgvector"])
def vector_backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def vector_env(vector_backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """What a server needs to use the test's vector store (SQLite: its data directory)."""
    if vector_backend == "pgvector":
        return {"POSTGRES_URL": request.getfixturevalue("pgvector_url")}
    return {}


@pytest.fixture
def vector_store(vector_backend: str, tmp_path: Path,
                 request: pytest.FixtureRequest) -> Iterator[Store]:
    """An open store with vector search, migrated."""
    store: SqliteStore | PgStore
    if vector_backend == "pgvector":
        store = PgStore(request.getfixturevalue("pgvector_url"), pool_size=4)
    else:
        store = SqliteStore(tmp_path / "eliza.sqlite")
    store.open_sync([core])
    try:
        assert store.vectors, store.vector_reason
        yield store
    finally:
        store.close()


@pytest.fixture
def vector_db(vector_store: Store) -> Iterator[Transaction]:
    """A connection of `vector_store` to call query functions on directly (each statement
    commits by itself), for tests that check a sequence of states step by step."""
    if isinstance(vector_store, PgStore):
        with vector_store.pool.connection() as conn:
            yield PgTransaction(conn)
    else:
        assert isinstance(vector_store, SqliteStore)
        yield vector_store.writer
