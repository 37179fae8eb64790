"""The text search migration and queries on a bare store, SQLite (FTS5) and PostgreSQL
(tsvector): query escaping, the index following inserts, edits and deletes, backfill."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlite_utils.migrations import Migrations

from conftest import make_settings
from eliza.store import Store, Transaction, store_for
from eliza.store.schema import core
from eliza.store.search import (
    DEFAULT_PAGE,
    NO_FILTER,
    MessageFilter,
    Page,
    fts_query,
    rebuild_indexes,
    search_memories,
    search_messages,
)

AGENT = "00000000-0000-0000-0000-0000000000a1"
CHANNEL = "00000000-0000-0000-0000-0000000000c1"
ROOM = "00000000-0000-0000-0000-0000000000b1"


def _core_before(name: str) -> Migrations:
    """The core migrations up to (not including) `name`, under the same set name, so
    opening with `core` afterwards applies the rest."""
    partial = Migrations(core.name)
    for migration in core._migrations:
        if migration.name == name:
            break
        partial(name=migration.name)(migration.fn)
    return partial


def _seed(db: Transaction) -> None:
    db.execute("INSERT INTO agents (id, name, character, created_at, updated_at)"
               " VALUES (?, 'A', '{}', 0, 0)", [AGENT])
    db.execute("INSERT INTO channels (id, message_server_id, name, type, created_at, updated_at)"
               " VALUES (?, '00000000-0000-0000-0000-000000000000', 'c', 'GROUP', 0, 0)",
               [CHANNEL])
    db.execute("INSERT INTO rooms (id, agent_id, source, type, created_at)"
               " VALUES (?, ?, 'test', 'GROUP', 0)", [ROOM, AGENT])


async def _open(tmp_path: Path, migrations: Migrations = core) -> Store:
    store = store_for(make_settings(tmp_path))
    await store.open([migrations])
    return store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await _open(tmp_path)
    await opened.write(_seed)
    try:
        yield opened
    finally:
        opened.close()


def _message(db: Transaction, n: int, text: str) -> str:
    message_id = f"00000000-0000-0000-0000-{n:012d}"
    db.execute("INSERT INTO central_messages (id, channel_id, author_id, content, created_at,"
               " updated_at) VALUES (?, ?, 'u', ?, ?, ?)", [message_id, CHANNEL, text, n, n])
    return message_id


def _memory(db: Transaction, n: int, content: str) -> str:
    memory_id = f"00000000-0000-0000-0001-{n:012d}"
    db.execute("INSERT INTO memories (id, type, created_at, content, agent_id, room_id)"
               " VALUES (?, 'messages', ?, ?, ?, ?)", [memory_id, n, content, AGENT, ROOM])
    return memory_id


async def _messages(store: Store, text: str, *, where: MessageFilter = NO_FILTER,
                    page: Page = DEFAULT_PAGE, match_all: bool = True) -> list[str]:
    hits = await store.read(lambda db: search_messages(db, text, where=where, page=page,
                                                       match_all=match_all))
    return [row["id"] for row, _, _ in hits]


async def _memories(store: Store, text: str, *, agent: str = AGENT, room_id: str | None = None,
                    table: str | None = None) -> list[str]:
    hits = await store.read(lambda db: search_memories(db, agent, text, room_id=room_id,
                                                       table=table))
    return [memory["id"] for memory in hits]


@pytest.mark.parametrize(("text", "expected"), [
    ("fox", '"fox"'),
    ("quick  fox", '"quick" AND "fox"'),
    ('say "hi"', '"say" AND """hi"""'),
    ("fox*", '"fox" *'),
    ("NEAR(a b)", '"NEAR(a" AND "b)"'),
    ("* - ( ) \"", None),
    ("", None),
])
def test_fts_query_quotes_every_term(text: str, expected: str | None) -> None:
    assert fts_query(text) == expected


def test_fts_query_any() -> None:
    assert fts_query("a b", match_all=False) == '"a" OR "b"'


async def test_the_index_follows_inserts_edits_and_deletes(store: Store) -> None:
    first = await store.write(_message, 1, "The Zürich tram is blue")
    second = await store.write(_message, 2, "zurich zurich zurich, always zurich")
    hits = await store.read(lambda db: search_messages(db, "ZURICH"))
    assert [row["id"] for row, _, _ in hits] == [second, first]  # the one all about it first
    assert hits[0][2] >= hits[1][2] > 0
    await store.write(lambda db: db.execute(
        "UPDATE central_messages SET content = 'now about trains' WHERE id = ?", [first]))
    assert await _messages(store, "zurich") == [second]
    assert await _messages(store, "trains") == [first]
    await store.write(lambda db: db.execute("DELETE FROM central_messages WHERE id = ?",
                                            [first]))
    assert await _messages(store, "trains") == []

    mem = await store.write(_memory, 1, json.dumps({"text": "Père Noël brings gifts"}))
    # Indexed as nothing, and the insert still succeeds.
    await store.write(_memory, 2, "not json at all")
    await store.write(_memory, 3, json.dumps({"source": "no text key"}))
    assert await _memories(store, "pere noel") == [mem]
    assert await _memories(store, "source") == []
    await store.write(lambda db: db.execute("UPDATE memories SET content = ? WHERE id = ?",
                                            [json.dumps({"text": "reindeer"}), mem]))
    assert await _memories(store, "noel") == []
    assert await _memories(store, "reindeer") == [mem]
    # Deleting the agent cascades to its memories, and they leave the index.
    await store.write(lambda db: db.execute("DELETE FROM agents WHERE id = ?", [AGENT]))
    assert await _memories(store, "reindeer") == []
    if store.dialect == "sqlite":  # FTS5's index is a table of its own: nothing left in it
        left = await store.read(lambda db: db.execute(
            "SELECT count(*) FROM memories_fts").fetchone()[0])
        assert left == 0


async def test_migration_backfills_existing_rows(tmp_path: Path) -> None:
    older = await _open(tmp_path, _core_before("m004_text_search"))
    try:
        await older.write(_seed)
        message = await older.write(_message, 1, "Backfilled señal")
        memory = await older.write(_memory, 1, json.dumps({"text": "older memory about señal"}))
    finally:
        older.close()
    store = await _open(tmp_path)  # applies m004 (and the rest) to the existing rows
    try:
        assert await _messages(store, "senal") == [message]
        assert await _memories(store, "senal") == [memory]
        await store.write(rebuild_indexes)
        assert await _messages(store, "backfilled") == [message]
        assert await _memories(store, "memory") == [memory]
    finally:
        store.close()


async def test_limit_offset_and_filters(store: Store) -> None:
    for n in range(1, 6):
        await store.write(_message, n, f"apple number {n}")
    ids = await _messages(store, "apple", page=Page(limit=10))
    assert len(ids) == 5
    assert await _messages(store, "apple", page=Page(limit=2, offset=2)) == ids[2:4]
    other = MessageFilter(channel_id="00000000-0000-0000-0000-0000000000ff")
    assert await _messages(store, "apple", where=other) == []
    assert len(await _messages(store, "apple", where=MessageFilter(channel_id=CHANNEL))) == 5
    assert len(await _messages(store, "apple", where=MessageFilter(since=2, until=3))) == 2
    assert len(await _messages(store, "apple banana", match_all=False)) == 5
    assert await _messages(store, "apple banana") == []
    await store.write(_memory, 1, json.dumps({"text": "apple"}))
    assert await _memories(store, "apple", table="documents") == []
    assert len(await _memories(store, "apple", table="messages", room_id=ROOM)) == 1
    assert await _memories(store, "apple", agent="00000000-0000-0000-0000-0000000000a2") == []


async def test_user_text_is_searched_as_words_never_as_query_syntax(store: Store) -> None:
    target = await store.write(
        _message, 1, "She said 'hello' to the quick-brown walrus (twice) near 3.14 pm")
    other = await store.write(_message, 2, "A quick brown fox")
    hostile = ['"', "'", "\\", "*", ":*", "&", "|", "!", "<->", "<2>", "(", ")", "a:*",
               "walrus:*", "walrus & fox", "walrus | fox", "!walrus", "walrus <-> fox",
               "'walrus' | 'fox'", "NEAR(walrus twice)", "walrus OR", "AND", "NOT walrus",
               "content:walrus", "^walrus", "{walrus}", "wal+rus", "🦭 walrus", "%", "_",
               "walrus\\", "$$", "?", "walrus ?", "-- walrus"]
    for text in hostile:
        await _messages(store, text)  # never an error
    assert await _messages(store, "!walrus") == [target]
    # `|` is no OR: "walrus" and "fox" (no message has both), the phrase "walrus fox".
    assert await _messages(store, "walrus | fox") == []
    assert await _messages(store, "walrus|fox") == []
    assert await _messages(store, "'hello'") == [target]
    assert await _messages(store, "(twice)") == [target]
    assert await _messages(store, "walr*") == [target]
    assert await _messages(store, "wal*") == [target]
    assert await _messages(store, "walrus*") == [target]
    assert await _messages(store, "3.14") == [target]
    # A term is a phrase: its words next to each other, in its order.
    assert set(await _messages(store, "quick-brown")) == {target, other}
    assert await _messages(store, "brown-quick") == []
    assert set(await _messages(store, "quick brown")) == {target, other}
    assert await _messages(store, "fox* quick") == [other]
    assert await _messages(store, "* - ( )") == []
    assert await _messages(store, "walrus giraffe", match_all=False) == [target]
