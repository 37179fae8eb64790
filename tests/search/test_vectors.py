"""The vector index and its work queue on a real store, SQLite with sqlite-vec and
PostgreSQL with pgvector (`vector_backend`), with hand-made 4-dim vectors instead of a
model: enrolment, the queue triggers, `finish`'s seq check, KNN search and its filters,
deletion and edits; the guard against opening a SQLite vector store without the extension;
and the pure helpers `as_vector` and `fuse`."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from eliza.runtime.embeddings import EmbeddingError, as_vector
from eliza.runtime.recall import RRF_K, fuse
from eliza.store import Store, Transaction
from eliza.store import sqlite as store_db
from eliza.store import vectors as vq
from eliza.store.schema import core
from eliza.store.sqlite import SqliteStore

A = "00000000-0000-0000-0000-0000000000a1"
B = "00000000-0000-0000-0000-0000000000a2"
ROOM_1 = "00000000-0000-0000-0000-0000000000b1"
ROOM_2 = "00000000-0000-0000-0000-0000000000b2"
ROOM_B = "00000000-0000-0000-0000-0000000000b3"
MODEL = "handmade"

X = [1.0, 0.0, 0.0, 0.0]
Y = [0.0, 1.0, 0.0, 0.0]
Z = [0.0, 0.0, 1.0, 0.0]
NEAR_X = [0.9, 0.1, 0.0, 0.0]


@pytest.fixture
def db(vector_db: Transaction) -> Transaction:
    """A connection of a vector store holding agents A and B and their rooms."""
    for agent, name in ((A, "A"), (B, "B")):
        vector_db.execute("INSERT INTO agents (id, name, character, created_at, updated_at)"
                          " VALUES (?, ?, '{}', 0, 0)", [agent, name])
    for room, agent in ((ROOM_1, A), (ROOM_2, A), (ROOM_B, B)):
        vector_db.execute("INSERT INTO rooms (id, agent_id, source, type, created_at)"
                          " VALUES (?, ?, 'test', 'GROUP', 0)", [room, agent])
    return vector_db


@pytest.fixture
def store(vector_store: Store, db: Transaction) -> Store:
    """The vector store of `db`."""
    return vector_store


_counter = iter(range(1, 1_000_000))


def memory(db: Transaction, text: str | None, *, agent: str = A, room: str = ROOM_1,
           type_: str = "messages", content: str | None = None) -> str:
    n = next(_counter)
    memory_id = f"00000000-0000-0000-0001-{n:012d}"
    if content is None:
        content = json.dumps({"text": text})
    db.execute("INSERT INTO memories (id, type, created_at, content, agent_id, room_id)"
               " VALUES (?, ?, ?, ?, ?, ?)", [memory_id, type_, n, content, agent, room])
    return memory_id


def embed_all(db: Transaction, agent: str, model: str,
              vecs: dict[str, Sequence[float]]) -> int:
    """Take the agent's whole queue and store the given vector of each memory."""
    batch = vq.next_batch(db, agent, 100)
    assert {p.memory_id for p in batch} == set(vecs)
    return vq.finish(db, agent, model, [(p, vecs[p.memory_id]) for p in batch])


def queued(db: Transaction, agent: str) -> list[str]:
    return [p.memory_id for p in vq.next_batch(db, agent, 100)]


def edit(db: Transaction, memory_id: str, text: str) -> None:
    db.execute("UPDATE memories SET content = ? WHERE id = ?",
               [json.dumps({"text": text}), memory_id])


def ids(hits: list[tuple[str, float]]) -> list[str]:
    return [mid for mid, _ in hits]


# -- opening ---------------------------------------------------------------------------------


async def test_the_store_has_its_vector_extension(store: Store, vector_backend: str) -> None:
    assert store.vectors is True
    if vector_backend == "sqlite":
        version = await store.read(lambda db: db.execute("SELECT vec_version()").fetchone()[0])
        assert version.startswith("v")
    else:
        version = await store.read(lambda db: db.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0])
        assert version.split(".")[0].isdigit()


@pytest.mark.sqlite_only
def test_store_without_sqlite_vec_refuses_a_database_with_vector_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "eliza.sqlite"
    plain = SqliteStore(tmp_path / "plain.sqlite")
    plain.open_sync([core])
    plain.close()
    with_vectors = SqliteStore(path)
    with_vectors.open_sync([core])
    vq.ensure_table(with_vectors.writer, 4)
    with_vectors.close()

    # This Python's own sqlite3 cannot load extensions: the store falls back to it.
    monkeypatch.setattr(store_db, "sqlite", sqlite3)
    text_only = SqliteStore(tmp_path / "plain.sqlite")
    text_only.open_sync([core])
    assert text_only.vectors is False
    text_only.close()

    refused = SqliteStore(path)
    with pytest.raises(RuntimeError, match="sqlite-vec cannot be loaded") as info:
        refused.open_sync([core])
    assert str(path) in str(info.value)
    with pytest.raises(RuntimeError, match="not open"):
        _ = refused.writer


@pytest.mark.sqlite_only
def test_load_vec_seam_refuses_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "eliza.sqlite"
    first = SqliteStore(path)
    first.open_sync([core])
    vq.ensure_table(first.writer, 4)
    first.close()
    monkeypatch.setattr(store_db, "_load_vec", lambda conn: False)
    with pytest.raises(RuntimeError, match="sqlite-vec"):
        SqliteStore(path).open_sync([core])


# -- enrolment and the queue -----------------------------------------------------------------


def test_enroll_queues_existing_memories_and_triggers_queue_new_ones(db: Transaction) -> None:
    old_1 = memory(db, "first")
    old_2 = memory(db, "second", room=ROOM_2)
    memory(db, "of B", agent=B, room=ROOM_B)
    assert not vq.is_enrolled(db, A)
    assert vq.pending_count(db, A) == 0  # nothing is queued before enrolment

    assert vq.enroll(db, A, MODEL) == 2
    assert vq.is_enrolled(db, A)
    assert queued(db, A) == [old_1, old_2]

    new = memory(db, "third")
    memory(db, "also of B", agent=B, room=ROOM_B)
    assert queued(db, A) == [old_1, old_2, new]
    assert vq.pending_count(db, A) == 3
    assert vq.pending_count(db, B) == 0
    assert not vq.is_enrolled(db, B)

    assert vq.enroll(db, A, MODEL) == 0  # enrolling twice queues nothing twice
    assert vq.pending_count(db, A) == 3


def test_next_batch_gives_text_room_and_type_oldest_first(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    first = memory(db, "hello there", room=ROOM_2, type_="facts")
    second = memory(db, "second")
    memory(db, "third")
    batch = vq.next_batch(db, A, 2)
    assert [p.memory_id for p in batch] == [first, second]
    assert (batch[0].text, batch[0].room_id, batch[0].type) == ("hello there", ROOM_2, "facts")
    assert batch[1].text == "second"
    assert batch[0].seq < batch[1].seq
    assert vq.next_batch(db, B, 10) == []


def test_finish_stores_vectors_and_empties_the_queue(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    mx, my, mz = memory(db, "x"), memory(db, "y"), memory(db, "z")
    assert embed_all(db, A, MODEL, {mx: X, my: Y, mz: Z}) == 3
    assert vq.pending_count(db, A) == 0
    assert vq.next_batch(db, A, 10) == []
    assert vq.vector_tables(db) == ["memory_vectors_4"]
    stored = vq.embeddings_of(db, A, [mx, my, mz])
    assert stored == {mx: X, my: Y, mz: Z}


def test_memories_without_text_are_dequeued_without_a_vector(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    empty = memory(db, "")
    no_text = memory(db, None, content=json.dumps({"actions": ["REPLY"]}))
    not_json = memory(db, None, content="not json {")
    number = memory(db, None, content=json.dumps({"text": 42}))
    batch = vq.next_batch(db, A, 10)
    assert [p.text for p in batch] == ["", "", "", ""]
    assert vq.finish(db, A, MODEL, [(p, None) for p in batch]) == 0
    assert vq.pending_count(db, A) == 0
    assert vq.embeddings_of(db, A, [empty, no_text, not_json, number]) == {}


# -- nearest ---------------------------------------------------------------------------------


def test_nearest_orders_by_similarity(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    mx, my, mnear = memory(db, "x"), memory(db, "y"), memory(db, "near x")
    embed_all(db, A, MODEL, {mx: X, my: Y, mnear: NEAR_X})
    hits = vq.nearest(db, A, MODEL, [2.0, 0.0, 0.0, 0.0], k=10)  # length does not matter
    assert ids(hits) == [mx, mnear, my]
    sims = [sim for _, sim in hits]
    assert sims[0] == pytest.approx(1.0, abs=1e-6)
    assert sims[1] == pytest.approx(0.9 / math.hypot(0.9, 0.1), abs=1e-6)
    assert sims[2] == pytest.approx(0.0, abs=1e-6)
    opposite = vq.nearest(db, A, MODEL, [-1.0, 0.0, 0.0, 0.0], k=1)
    assert ids(opposite) == [my]  # orthogonal beats opposite
    assert ids(vq.nearest(db, A, MODEL, X, k=2)) == [mx, mnear]


def test_nearest_filters_by_room_and_type(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    in_1 = memory(db, "room 1", room=ROOM_1)
    in_2 = memory(db, "room 2", room=ROOM_2)
    fact = memory(db, "a fact", room=ROOM_2, type_="facts")
    embed_all(db, A, MODEL, {in_1: X, in_2: NEAR_X, fact: X})
    assert ids(vq.nearest(db, A, MODEL, X, k=10, room_id=ROOM_2)) == [fact, in_2]
    assert ids(vq.nearest(db, A, MODEL, X, k=10, table="messages")) == [in_1, in_2]
    assert ids(vq.nearest(db, A, MODEL, X, k=10, room_id=ROOM_2, table="messages")) == [in_2]
    assert vq.nearest(db, A, MODEL, X, k=10, room_id=ROOM_B) == []


def test_nearest_never_crosses_agents_or_models(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    vq.enroll(db, B, MODEL)
    mine = memory(db, "mine")
    theirs = memory(db, "theirs", agent=B, room=ROOM_B)
    embed_all(db, A, MODEL, {mine: Y})
    embed_all(db, B, MODEL, {theirs: X})  # exactly the query: still not A's
    assert ids(vq.nearest(db, A, MODEL, X, k=10)) == [mine]
    assert ids(vq.nearest(db, B, MODEL, X, k=10)) == [theirs]
    assert vq.nearest(db, A, "another-model", X, k=10) == []
    assert vq.embeddings_of(db, A, [mine, theirs]) == {mine: Y}
    # No table of that dimension yet: nothing, not an error.
    assert vq.nearest(db, A, MODEL, [1.0, 0.0, 0.0], k=10) == []


# -- edits and deletion ----------------------------------------------------------------------


def test_an_edit_during_embedding_keeps_the_memory_queued(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    mid = memory(db, "old text")
    stale = vq.next_batch(db, A, 10)
    edit(db, mid, "new text")  # while the model was busy with the old text
    assert vq.finish(db, A, MODEL, [(p, X) for p in stale]) == 0
    assert vq.embeddings_of(db, A, [mid]) == {}
    assert vq.nearest(db, A, MODEL, X, k=10) == []
    fresh = vq.next_batch(db, A, 10)
    assert [(p.memory_id, p.text) for p in fresh] == [(mid, "new text")]
    assert fresh[0].seq > stale[0].seq
    assert vq.finish(db, A, MODEL, [(p, Y) for p in fresh]) == 1
    assert vq.embeddings_of(db, A, [mid]) == {mid: Y}
    assert vq.pending_count(db, A) == 0


def test_an_edit_drops_the_old_vector_and_requeues(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    mid, other = memory(db, "old text"), memory(db, "other")
    embed_all(db, A, MODEL, {mid: X, other: Y})
    db.execute("UPDATE memories SET metadata = '{\"x\": 1}' WHERE id = ?", [mid])
    assert vq.embeddings_of(db, A, [mid]) == {mid: X}  # not the text: vector kept
    assert vq.pending_count(db, A) == 0
    edit(db, mid, "new text")
    assert vq.embeddings_of(db, A, [mid, other]) == {other: Y}
    assert ids(vq.nearest(db, A, MODEL, X, k=10)) == [other]
    assert queued(db, A) == [mid]


def test_a_moved_memory_is_reindexed_under_its_new_room_and_type(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    mid = memory(db, "moving", room=ROOM_1, type_="messages")
    embed_all(db, A, MODEL, {mid: X})
    db.execute("UPDATE memories SET content = content WHERE id = ?", [mid])
    assert vq.pending_count(db, A) == 0  # the same text again: the vector stays
    db.execute("UPDATE memories SET room_id = ?, type = 'facts' WHERE id = ?", [ROOM_2, mid])
    assert vq.nearest(db, A, MODEL, X, k=10, room_id=ROOM_1) == []  # not under the old room
    assert queued(db, A) == [mid]
    embed_all(db, A, MODEL, {mid: X})
    assert ids(vq.nearest(db, A, MODEL, X, k=10, room_id=ROOM_2, table="facts")) == [mid]
    assert vq.nearest(db, A, MODEL, X, k=10, table="messages") == []


def test_one_vector_per_memory_whatever_its_dimensions(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    mid = memory(db, "text")
    embed_all(db, A, MODEL, {mid: X})
    vq.enroll(db, A, "wider")
    embed_all(db, A, "wider", {mid: [0.0, 0.0, 0.0, 0.0, 1.0]})
    assert sorted(vq.vector_tables(db)) == ["memory_vectors_4", "memory_vectors_5"]
    assert vq.nearest(db, A, MODEL, X, k=10) == []
    assert vq.embeddings_of(db, A, [mid]) == {mid: [0.0, 0.0, 0.0, 0.0, 1.0]}


def test_deleting_a_memory_deletes_its_vector_and_queue_entry(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    gone, kept = memory(db, "gone"), memory(db, "kept")
    embed_all(db, A, MODEL, {gone: X, kept: Y})
    waiting = memory(db, "waiting")
    db.execute("DELETE FROM memories WHERE id IN (?, ?)", [gone, waiting])
    assert vq.embeddings_of(db, A, [gone, kept]) == {kept: Y}
    assert ids(vq.nearest(db, A, MODEL, X, k=10)) == [kept]
    assert vq.pending_count(db, A) == 0
    count = db.execute("SELECT count(*) FROM memory_vectors_4").fetchone()[0]
    assert count == 1


def test_deleting_a_room_or_an_agent_cascades_to_vectors(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    vq.enroll(db, B, MODEL)
    in_1, in_2 = memory(db, "1", room=ROOM_1), memory(db, "2", room=ROOM_2)
    of_b = memory(db, "b", agent=B, room=ROOM_B)
    embed_all(db, A, MODEL, {in_1: X, in_2: Y})
    embed_all(db, B, MODEL, {of_b: X})
    db.execute("DELETE FROM rooms WHERE id = ?", [ROOM_1])
    assert ids(vq.nearest(db, A, MODEL, X, k=10)) == [in_2]

    memory(db, "still queued", room=ROOM_2)
    db.execute("DELETE FROM agents WHERE id = ?", [A])
    assert vq.embeddings_of(db, A, [in_1, in_2]) == {}
    assert vq.nearest(db, A, MODEL, X, k=10) == []
    assert vq.pending_count(db, A) == 0
    assert not vq.is_enrolled(db, A)
    rows = db.execute("SELECT memory_id FROM memory_vectors_4").fetchall()
    assert rows == [(of_b,)]  # the other agent keeps its vectors
    assert ids(vq.nearest(db, B, MODEL, X, k=10)) == [of_b]


# -- re-enrolment ----------------------------------------------------------------------------


def test_enrolling_again_queues_only_memories_without_a_vector(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    done = memory(db, "done")
    embed_all(db, A, MODEL, {done: X})
    vq.withdraw(db, A)
    assert not vq.is_enrolled(db, A)
    missed = memory(db, "written while withdrawn")
    assert vq.pending_count(db, A) == 0  # not queued while withdrawn
    assert ids(vq.nearest(db, A, MODEL, X, k=10)) == [done]  # vectors stay searchable

    assert vq.enroll(db, A, MODEL) == 1
    assert queued(db, A) == [missed]


def test_switching_model_requeues_everything(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    first, second = memory(db, "first"), memory(db, "second")
    embed_all(db, A, MODEL, {first: X, second: Y})
    assert vq.enroll(db, A, "better") == 2
    assert set(queued(db, A)) == {first, second}
    embed_all(db, A, "better", {first: Y, second: X})
    assert ids(vq.nearest(db, A, "better", X, k=10)) == [second, first]
    assert vq.nearest(db, A, MODEL, X, k=10) == []
    assert vq.enroll(db, A, "better") == 0


def test_withdraw_empties_the_agents_queue_only(db: Transaction) -> None:
    vq.enroll(db, A, MODEL)
    vq.enroll(db, B, MODEL)
    memory(db, "a")
    of_b = memory(db, "b", agent=B, room=ROOM_B)
    vq.withdraw(db, A)
    assert vq.pending_count(db, A) == 0
    assert queued(db, B) == [of_b]


async def test_through_the_store_threads(store: Store) -> None:
    await store.write(vq.enroll, A, MODEL)
    mid = await store.write(memory, "through the store")
    batch = await store.read(vq.next_batch, A, 10)
    assert [p.text for p in batch] == ["through the store"]
    assert await store.write(vq.finish, A, MODEL, [(batch[0], Z)]) == 1
    # The reader connection has sqlite-vec too and sees the writer's commit.
    hits = await store.read(lambda db: vq.nearest(db, A, MODEL, Z, k=3))
    assert ids(hits) == [mid]


def test_table_name_bounds() -> None:
    assert vq.table_name(384) == "memory_vectors_384"
    for bad in (0, -1, vq.MAX_DIMENSIONS + 1):
        with pytest.raises(ValueError, match="dimensions"):
            vq.table_name(bad)


# -- as_vector -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    [1, 2.5, -3],
    (1.0, 2.5, -3.0),
    np.array([1.0, 2.5, -3.0], dtype=np.float32),
    np.array([1, 2.5, -3], dtype=np.float64),
])
def test_as_vector_accepts_lists_and_arrays(value: object) -> None:
    out = as_vector(value)
    assert out == [1.0, 2.5, -3.0]
    assert all(type(x) is float for x in out)


@pytest.mark.parametrize(("value", "message"), [
    ([], "non-empty"),
    (np.array([]), "non-empty"),
    (None, "non-empty"),
    ("0.1 0.2", "non-empty"),
    (b"\x00\x01", "non-empty"),
    ({"embedding": [0.1]}, "non-empty"),
    (["a", "b"], "numbers"),
    ([0.1, None], "numbers"),
    ([[0.1, 0.2]], "numbers"),
    ([0.1, float("nan")], "non-finite"),
    (np.array([0.1, np.inf]), "non-finite"),
    ([0.0] * (vq.MAX_DIMENSIONS + 1), "over"),
])
def test_as_vector_rejects_what_is_not_a_vector(value: object, message: str) -> None:
    with pytest.raises(EmbeddingError, match=message):
        as_vector(value)


# -- fuse ------------------------------------------------------------------------------------


def test_fuse_ranks_a_hit_in_both_lists_first() -> None:
    text = [{"id": "a", "from": "text"}, {"id": "b", "from": "text"}, {"id": "c", "from": "text"}]
    semantic = [{"id": "d", "from": "semantic"}, {"id": "b", "from": "semantic"}]
    fused = fuse(text, semantic, key=lambda h: h["id"])
    assert [hit["id"] for hit, _ in fused] == ["b", "a", "d", "c"]
    scores = dict((hit["id"], score) for hit, score in fused)
    assert scores["b"] == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 2))
    assert scores["a"] == pytest.approx(1 / (RRF_K + 1))
    assert scores["d"] == pytest.approx(1 / (RRF_K + 1))
    assert scores["c"] == pytest.approx(1 / (RRF_K + 3))
    assert fused[0][0]["from"] == "text"  # the row of the first list is the one kept


def test_fuse_even_low_in_both_beats_top_of_one() -> None:
    text = [str(n) for n in range(10)] + ["both"]
    semantic = ["only semantic", *(f"s{n}" for n in range(9)), "both"]
    fused = fuse(text, semantic, key=lambda h: h)
    top, score = fused[0]
    assert top == "both"
    assert score == pytest.approx(2 / (RRF_K + 11))
    assert [score for _, score in fused] == sorted((s for _, s in fused), reverse=True)
    assert len(fused) == 21  # 22 hits, "both" counted once


def test_fuse_of_one_list_keeps_its_order() -> None:
    assert [h for h, _ in fuse([], ["x", "y", "z"], key=lambda h: h)] == ["x", "y", "z"]
    assert fuse([], [], key=lambda h: h) == []
