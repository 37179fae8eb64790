"""The store on a disk that cannot take a write: SQLite's own "database or disk is full" and
"attempt to write a readonly database" become `InsufficientStorage` (507), the failed
transaction leaves nothing behind, reads keep working, and the same writer connection
writes again once the disk can take it (no reopening)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from eliza.errors import InsufficientStorage
from eliza.store import SqliteStore, Transaction, core_migrations
from eliza.store.agents import get_meta, set_meta
from eliza.store.sqlite import SqliteTransaction, sqlite

# About SQLite's own disk faults (full, read-only) on its file.
pytestmark = pytest.mark.sqlite_only

BIG = "x" * 200_000  # ~50 pages: more than the database is allowed to grow below


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "eliza.db")
    await opened.open([core_migrations])
    yield opened
    opened.close()


def set_many(db: Transaction, values: dict[str, str]) -> None:
    for key, value in values.items():
        set_meta(db, key, value)


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


async def test_a_full_database_refuses_the_write_then_recovers(store: SqliteStore) -> None:
    await store.write(set_meta, "before", "kept")
    pages = store.writer.execute("PRAGMA page_count").fetchone()[0]
    # SQLite's own limit on the file's size: it fails exactly as on a full disk (SQLITE_FULL).
    store.writer.execute(f"PRAGMA max_page_count = {pages}")

    with pytest.raises(InsufficientStorage) as refused:
        await store.write(set_many, {"small": "first row of the failed write", "big": BIG})
    assert refused.value.status == 507
    assert refused.value.to_dict()["error"] == {
        "code": "INSUFFICIENT_STORAGE", "message": refused.value.message,
        "details": {"reason": "DISK_FULL", "storage": "the database"}}
    assert "full" in refused.value.message
    # Nothing of the failed transaction is left, and reads go on.
    assert await store.read(get_meta, "small") is None
    assert await store.read(get_meta, "before") == "kept"
    assert not store.writer.db.conn.in_transaction

    store.writer.execute("PRAGMA max_page_count = 1073741823")  # space is back
    await store.write(set_many, {"small": "again", "big": BIG})
    assert await store.read(get_meta, "big") == BIG
    assert await store.read(get_meta, "before") == "kept"
    store.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert integrity(store.path) == "ok"


async def test_a_read_only_database_refuses_writes_and_keeps_reading(
        store: SqliteStore) -> None:
    await store.write(set_meta, "before", "kept")
    writable = store.writer
    # The writer as SQLite has it when the file cannot be written: opened read-only.
    conn = sqlite.connect(f"file:{store.path}?mode=ro", uri=True, isolation_level=None,
                          check_same_thread=False)
    store._writer = SqliteTransaction(Database(conn))
    try:
        with pytest.raises(InsufficientStorage) as refused:
            await store.write(set_meta, "during", "refused")
        assert refused.value.details == {"reason": "READ_ONLY", "storage": "the database"}
        assert "read-only" in refused.value.message
        assert await store.read(get_meta, "before") == "kept"
    finally:
        store._writer = writable
        conn.close()
    await store.write(set_meta, "after", "written")
    assert await store.read(get_meta, "after") == "written"
    assert await store.read(get_meta, "during") is None


async def test_other_errors_are_not_taken_for_a_full_disk(store: SqliteStore) -> None:
    def bad(db: Transaction) -> None:
        set_meta(db, "half", "done")
        db.execute("INSERT INTO no_such_table VALUES (1)")

    with pytest.raises(sqlite.OperationalError):
        await store.write(bad)
    assert await store.read(get_meta, "half") is None
