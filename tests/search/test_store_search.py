"""The FTS5 migration and queries on a bare store: query escaping, trigger sync, backfill."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from eliza.store.schema import core, m004_text_search
from eliza.store.search import (
    MessageFilter,
    Page,
    fts_query,
    rebuild_indexes,
    search_memories,
    search_messages,
)
from eliza.store.sqlite import SqliteTransaction

AGENT = "00000000-0000-0000-0000-0000000000a1"
CHANNEL = "00000000-0000-0000-0000-0000000000c1"
ROOM = "00000000-0000-0000-0000-0000000000r1".replace("r", "b")


def _db(path: Path, stop_before: str | None = None) -> SqliteTransaction:
    raw = Database(sqlite3.connect(path), execute_plugins=False)
    raw.execute("PRAGMA foreign_keys = ON")
    core.apply(raw, stop_before=stop_before)
    db = SqliteTransaction(raw)
    db.execute("INSERT INTO agents (id, name, character, created_at, updated_at)"
               " VALUES (?, 'A', '{}', 0, 0)", [AGENT])
    db.execute("INSERT INTO channels (id, message_server_id, name, type, created_at, updated_at)"
               " VALUES (?, '00000000-0000-0000-0000-000000000000', 'c', 'GROUP', 0, 0)",
               [CHANNEL])
    db.execute("INSERT INTO rooms (id, agent_id, source, type, created_at)"
               " VALUES (?, ?, 'test', 'GROUP', 0)", [ROOM, AGENT])
    return db


def _message(db: SqliteTransaction, n: int, text: str) -> str:
    message_id = f"00000000-0000-0000-0000-{n:012d}"
    db.execute("INSERT INTO central_messages (id, channel_id, author_id, content, created_at,"
               " updated_at) VALUES (?, ?, 'u', ?, ?, ?)", [message_id, CHANNEL, text, n, n])
    return message_id


def _memory(db: SqliteTransaction, n: int, content: str) -> str:
    memory_id = f"00000000-0000-0000-0001-{n:012d}"
    db.execute("INSERT INTO memories (id, type, created_at, content, agent_id, room_id)"
               " VALUES (?, 'messages', ?, ?, ?, ?)", [memory_id, n, content, AGENT, ROOM])
    return memory_id


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


def test_triggers_keep_both_indexes_in_sync(tmp_path: Path) -> None:
    db = _db(tmp_path / "db.sqlite")
    first = _message(db, 1, "The Zürich tram is blue")
    _message(db, 2, "zurich zurich zurich, always zurich")
    hits = search_messages(db, "ZURICH")
    assert next(row["content"] for row, _, _ in hits).startswith("zurich zurich")
    assert len(hits) == 2
    assert hits[0][2] >= hits[1][2]
    db.execute("UPDATE central_messages SET content = 'now about trains' WHERE id = ?", [first])
    assert len(search_messages(db, "zurich")) == 1
    assert [r["id"] for r, _, _ in search_messages(db, "trains")] == [first]
    db.execute("DELETE FROM central_messages WHERE id = ?", [first])
    assert search_messages(db, "trains") == []

    mem = _memory(db, 1, json.dumps({"text": "Père Noël brings gifts"}))
    _memory(db, 2, "not json at all")  # indexed as nothing, the insert still succeeds
    _memory(db, 3, json.dumps({"source": "no text key"}))
    assert [m["id"] for m in search_memories(db, AGENT, "pere noel")] == [mem]
    db.execute("UPDATE memories SET content = ? WHERE id = ?",
               [json.dumps({"text": "reindeer"}), mem])
    assert search_memories(db, AGENT, "noel") == []
    assert [m["id"] for m in search_memories(db, AGENT, "reindeer")] == [mem]
    db.execute("DELETE FROM agents WHERE id = ?", [AGENT])  # cascades to the memories
    assert next(iter(db.query("SELECT count(*) AS n FROM memories_fts")))["n"] == 0


def test_migration_backfills_existing_rows(tmp_path: Path) -> None:
    db = _db(tmp_path / "db.sqlite", stop_before="m004_text_search")
    message = _message(db, 1, "Backfilled señal")
    memory = _memory(db, 1, json.dumps({"text": "older memory about señal"}))
    m004_text_search(db.db)
    assert [r["id"] for r, _, _ in search_messages(db, "senal")] == [message]
    assert [m["id"] for m in search_memories(db, AGENT, "senal")] == [memory]
    rebuild_indexes(db)
    assert [r["id"] for r, _, _ in search_messages(db, "backfilled")] == [message]
    assert [m["id"] for m in search_memories(db, AGENT, "memory")] == [memory]


def test_limit_offset_and_filters(tmp_path: Path) -> None:
    db = _db(tmp_path / "db.sqlite")
    for n in range(1, 6):
        _message(db, n, f"apple number {n}")
    ids = [r["id"] for r, _, _ in search_messages(db, "apple", page=Page(limit=10))]
    assert len(ids) == 5
    page = [r["id"] for r, _, _ in search_messages(db, "apple", page=Page(limit=2, offset=2))]
    assert page == ids[2:4]
    other = MessageFilter(channel_id="00000000-0000-0000-0000-0000000000ff")
    assert search_messages(db, "apple", where=other) == []
    assert len(search_messages(db, "apple", where=MessageFilter(channel_id=CHANNEL))) == 5
    assert len(search_messages(db, "apple banana", match_all=False)) == 5
    assert search_messages(db, "apple banana") == []
    _memory(db, 1, json.dumps({"text": "apple"}))
    assert search_memories(db, AGENT, "apple", table="documents") == []
    assert len(search_memories(db, AGENT, "apple", table="messages", room_id=ROOM)) == 1
    assert search_memories(db, "00000000-0000-0000-0000-0000000000a2", "apple") == []
