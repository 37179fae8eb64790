"""The PostgreSQL store on its own: the SQL it is given is the SQLite-flavoured text the
query modules share, a statement past its deadline is a 503 (not a hang, not a 500), and
a write that loses a race runs again and finds the winner's row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from eliza.errors import DatabaseUnavailable
from eliza.store.postgres import PgStore, translate
from tests.backends import migrated_pg_store

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]


@pytest.fixture
async def store() -> AsyncIterator[PgStore]:
    async with migrated_pg_store("u", statement_timeout=0.5) as opened:
        yield opened


def test_placeholders_outside_quotes_become_psycopg_ones() -> None:
    sql = "SELECT '?', \"a?\", x FROM t WHERE a = ? AND b LIKE '50%' AND c = ?"
    assert translate(sql, True) == (
        "SELECT '?', \"a?\", x FROM t WHERE a = %s AND b LIKE '50%%' AND c = %s")
    assert translate("SELECT '50%'", False) == "SELECT '50%'"  # no parameters: taken as is


async def test_a_value_with_placeholder_characters_round_trips(store: PgStore) -> None:
    text = "what? 100% sure: %s ?"

    def write(tx: Any) -> None:
        tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ["q?", text])

    await store.write(write)
    rows = await store.read(lambda tx: list(tx.query("SELECT value FROM meta WHERE key = ?",
                                                     ["q?"])))
    assert rows == [{"value": text}]


async def test_a_statement_past_its_deadline_is_a_503_and_the_store_goes_on(
        store: PgStore) -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        await store.read(lambda tx: tx.execute("SELECT pg_sleep(3)").fetchone())
    assert caught.value.status == 503
    assert caught.value.code == "DATABASE_UNAVAILABLE"
    assert "POSTGRES_STATEMENT_TIMEOUT" in caught.value.message
    # The connection it ran on is usable again: the next query answers.
    assert await store.read(lambda tx: tx.execute("SELECT 1").fetchone()[0]) == 1


async def test_concurrent_find_or_creates_on_a_unique_key_make_one_row(store: PgStore) -> None:
    """Select-then-insert from many connections: the losers hit the unique key, run again,
    and return the winner's row."""
    results: list[str] = []

    def find_or_create(tx: Any, value: str) -> str:
        found = tx.execute("SELECT value FROM meta WHERE key = 'race'").fetchone()
        if found:
            return str(found[0])
        tx.execute("SELECT pg_sleep(0.05)")  # widen the window between look and insert
        tx.execute("INSERT INTO meta (key, value) VALUES ('race', ?)", [value])
        return value

    async def one(value: str) -> None:
        results.append(await store.write(find_or_create, value))

    async with trio.open_nursery() as nursery:
        for n in range(8):
            nursery.start_soon(one, f"writer-{n}")
    assert len(set(results)) == 1, results
    count = await store.read(
        lambda tx: tx.execute("SELECT count(*) FROM meta WHERE key = 'race'").fetchone()[0])
    assert count == 1
