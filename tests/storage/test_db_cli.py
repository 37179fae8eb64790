"""`eliza db` as a user runs it, a real process each time: a server's SQLite data dir
(thousands of messages and memories, an agent with a secret) copied into PostgreSQL serves
the same listings and searches there; a second copy refuses; a target without pgvector is
told its vectors were not copied (their memories queued to re-embed); migrate and status on
a fresh database; one error line for a database that is down.

Each test makes its own PostgreSQL schema (it picks both stores itself, so it runs once:
`sqlite_only` keeps the suite's backend fixture from running it a second time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from conftest import LiveServer, free_port
from eliza import ids
from eliza.security.secrets import SecretBox
from eliza.store import vectors as vq
from eliza.store.schema import core
from eliza.store.sqlite import SqliteStore
from tests.backends import create_schema, drop_schema, own_schema
from tests.polling import wait_until_sync

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]

ELIZA_ID = ids.string_to_uuid("Eliza")
USER_ID = "965189c0-221e-42f3-89eb-fb91df1f8fe8"
SERVER_ID = ids.DEFAULT_SERVER_ID
DM_CHANNELS = 10
POSTS_PER_CHANNEL = 55  # each answered by Eliza: 1,100 messages and 1,100 memories
SECRET = "keeper-secret-8d1f0c"


def eliza(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
          ) -> subprocess.CompletedProcess[str]:
    """`eliza db ...` in a process of its own, with only the settings the test gives."""
    base = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_URL", "DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "eliza.cli", "db", *args], cwd=cwd,
                          env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture
def schema() -> Iterator[str]:
    with own_schema("dbcli") as (_, url):
        yield url


def pg_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


# -- a real server's data dir ---------------------------------------------------------------


@dataclass
class Source:
    data_dir: Path
    keeper_id: str
    channels: list[str]
    quiet_channel: str
    giraffe_id: str
    zebra_id: str
    listings: dict[str, Any]  # as the SQLite server showed them
    searches: dict[str, Any]


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.request.url, response.text)
    return response.json()["data"]


def _post(http: httpx.Client, channel: str, text: str) -> str:
    body = {"author_id": USER_ID, "content": text, "message_server_id": SERVER_ID}
    return str(data(http.post(f"/api/messaging/channels/{channel}/messages", json=body),
                    201)["id"])


def _converse(url: str, channel: str, index: int) -> str | None:
    zebra = None
    with httpx.Client(base_url=url, timeout=30) as http:
        for n in range(POSTS_PER_CHANNEL):
            text = f"Channel {index} line {n}: I keep thinking about my family"
            if index == 3 and n == 7:
                text = "My zebra collection grows: zebra stripes, zebra mugs and a zebra rug"
            elif n == 11:
                text = f"A zebra passed by channel {index} once"
            posted = _post(http, channel, text)
            if index == 3 and n == 7:
                zebra = posted
    return zebra


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    data_dir = tmp_path_factory.mktemp("sqlite") / ".eliza"
    server = LiveServer(data_dir)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            keeper = data(http.post("/api/agents", json={"characterJson": {
                "name": "Keeper", "bio": ["keeps a secret"],
                "settings": {"secrets": {"API_TOKEN": SECRET}}}}), 201)
            channels = [str(data(http.post("/api/messaging/channels", json={
                "name": f"dm {i}", "message_server_id": SERVER_ID, "type": "DM",
                "participantCentralUserIds": [USER_ID, ELIZA_ID]}), 201)["id"])
                for i in range(DM_CHANNELS)]
            quiet = str(data(http.post("/api/messaging/channels", json={
                "name": "notes", "message_server_id": SERVER_ID, "type": "GROUP",
                "participantCentralUserIds": [USER_ID]}), 201)["id"])
            _post(http, quiet, "One giraffe at the zoo, and many penguins")
            giraffe = _post(http, quiet, "Giraffe facts: a giraffe sleeps standing, giraffes!")
            _post(http, quiet, "The quick brown fox jumps over the lazy dog")
        with ThreadPoolExecutor(DM_CHANNELS) as pool:
            zebras = list(pool.map(_converse, [server.url] * DM_CHANNELS, channels,
                                   range(DM_CHANNELS)))
        zebra = next(z for z in zebras if z)

        def all_answered() -> bool:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                return all(len(data(http.get(
                    f"/api/messaging/channels/{c}/messages?limit=1000"))["messages"])
                    == 2 * POSTS_PER_CHANNEL for c in channels)

        wait_until_sync(all_answered, within=300, interval=0.5,
                        message="Eliza to answer every message")
        listed = listings(server.url, str(keeper["id"]), [*channels, quiet])
        searched = searches(server.url)
    finally:
        assert server.stop() == 0, server.log()
    return Source(data_dir, str(keeper["id"]), channels, quiet, giraffe, zebra, listed,
                  searched)


def listings(url: str, keeper_id: str, channels: list[str]) -> dict[str, Any]:
    """What a user sees: agents, channels, every page of channel messages, memories."""
    seen: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=60) as http:
        seen["agents"] = sorted((a["id"], a["name"], a["status"]) for a in
                                data(http.get("/api/agents"))["agents"])
        # Where it runs (a worker id) is the deployment's business, not the data's.
        seen["keeper"] = {k: v for k, v in data(http.get(f"/api/agents/{keeper_id}")).items()
                          if k != "worker"}
        seen["channels"] = data(http.get(f"/api/messaging/central-servers/{SERVER_ID}"
                                         "/channels"))["channels"]
        for channel in channels:
            pages, before = [], ""
            while True:
                page = data(http.get(f"/api/messaging/channels/{channel}/messages"
                                     f"?limit=40{before}"))["messages"]
                if not page:
                    break
                pages.append(page)
                before = f"&before={page[-1]['createdAt']}"
            seen[f"messages {channel}"] = pages
        seen["memories"] = data(http.get(f"/api/memory/{ELIZA_ID}/memories"))["memories"]
    return seen


def searches(url: str) -> dict[str, Any]:
    """Text searches: the best hit first, and the set of hits (scores differ by engine)."""
    seen: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=60) as http:
        for query in ("giraffe", "zebra"):
            found = data(http.post("/api/messaging/messages/search",
                                   json={"query": query, "limit": 100}))["messages"]
            seen[f"search {query}"] = (found[0]["id"], sorted(m["id"] for m in found))
        found = data(http.post(f"/api/memory/{ELIZA_ID}/memories/search",
                               json={"query": "zebra", "mode": "text", "limit": 100}))
        hits = found["memories"]
        seen["memory search"] = (hits[0]["content"]["text"], sorted(m["id"] for m in hits))
    return seen


@dataclass
class Copied:
    url: str
    output: str


@pytest.fixture(scope="module")
def copied(source: Source) -> Iterator[Copied]:
    """The source copied by `eliza db copy` into a schema of its own."""
    name, url = create_schema("dbcli")
    try:
        run = eliza("copy", "--from", str(source.data_dir), "--to", url)
        assert run.returncode == 0, run.stderr
        print("\n" + run.stdout)
        yield Copied(url, run.stdout)
    finally:
        drop_schema(name)


def test_the_source_is_a_real_servers_data(source: Source) -> None:
    assert len(source.listings["memories"]) >= 1000
    assert sum(len(page) for key, pages in source.listings.items()
               if key.startswith("messages ") for page in pages) >= 1000
    assert source.searches["search giraffe"][0] == source.giraffe_id
    assert source.searches["search zebra"][0] == source.zebra_id
    assert source.searches["memory search"][0].startswith("My zebra collection")


def test_copy_reports_every_table_and_the_secrets(source: Source, copied: Copied) -> None:
    out = copied.output
    assert "DIFFERS" not in out
    for table in ("agents", "central_messages", "memories", "logs", "channel_participants",
                  "owed_messages", "meta"):
        assert f"\n{table} " in out, out
    assert "secrets: 1 sealed secret(s) copied encrypted" in out, out
    assert f"ELIZA_DATA_DIR={source.data_dir.resolve()}" in out
    assert "WARNING" not in out
    assert "vectors: the source has none" in out
    # The secret opens with the data dir's salt, which stayed out of the database.
    ((character,),) = pg_rows(copied.url, "SELECT character FROM agents WHERE id ="
                                         f" '{source.keeper_id}'")
    assert SECRET not in character
    box = SecretBox(source.data_dir, None)
    box.open()
    assert box.decrypt_character(json.loads(character))["settings"]["secrets"] == {
        "API_TOKEN": SECRET}


def test_postgresql_serves_the_same_listings(source: Source, copied: Copied) -> None:
    server = LiveServer(source.data_dir, {"POSTGRES_URL": copied.url})
    server.start()
    try:
        channels = [*source.channels, source.quiet_channel]
        assert listings(server.url, source.keeper_id, channels) == source.listings
        # New rows come after the copied ones (the identity sequences moved past them).
        with httpx.Client(base_url=server.url, timeout=30) as http:
            newest = _post(http, source.quiet_channel, "written on PostgreSQL")
            page = data(http.get(f"/api/messaging/channels/{source.quiet_channel}/messages"
                                 "?limit=1"))["messages"]
            assert page[0]["id"] == newest
    finally:
        assert server.stop() == 0, server.log()


def test_postgresql_answers_the_same_text_searches(source: Source, copied: Copied) -> None:
    server = LiveServer(source.data_dir, {"POSTGRES_URL": copied.url})
    server.start()
    try:
        assert searches(server.url) == source.searches
    finally:
        assert server.stop() == 0, server.log()


def test_a_second_copy_refuses_and_changes_nothing(source: Source, copied: Copied) -> None:
    counts = "SELECT (SELECT count(*) FROM central_messages), (SELECT count(*) FROM memories),"\
             " (SELECT max(rowid) FROM memories), (SELECT count(*) FROM agents)"
    before = pg_rows(copied.url, counts)
    again = eliza("copy", "--from", str(source.data_dir), "--to", copied.url)
    assert again.returncode == 1
    (line,) = again.stderr.strip().splitlines()
    assert "already holds data" in line, line
    assert "nothing was changed" in line, line
    assert pg_rows(copied.url, counts) == before


def test_copy_refuses_while_a_server_runs_on_the_data_dir(tmp_path: Path, schema: str) -> None:
    server = LiveServer(tmp_path / ".eliza")
    server.start()
    try:
        refused = eliza("copy", "--from", str(server.data_dir), "--to", schema)
    finally:
        server.stop()
    assert refused.returncode == 1
    assert "a server is running on" in refused.stderr
    assert pg_rows(schema, "SELECT count(*) FROM information_schema.tables"
                           " WHERE table_schema = current_schema()") == [(0,)]


# -- vectors without pgvector ---------------------------------------------------------------

A = "00000000-0000-0000-0000-0000000000a1"
B = "00000000-0000-0000-0000-0000000000a2"
ROOM = "00000000-0000-0000-0000-0000000000b1"


def _vector_source(data_dir: Path) -> dict[str, list[str]]:
    """A data dir whose agents A (still enrolled) and B (withdrawn) have 4-dim vectors."""
    store = SqliteStore(data_dir / "eliza.db")
    store.open_sync([core])
    db = store.writer
    made: dict[str, list[str]] = {A: [], B: []}
    try:
        for agent, name in ((A, "A"), (B, "B")):
            db.execute("INSERT INTO agents (id, name, character, created_at, updated_at)"
                       " VALUES (?, ?, '{}', 0, 0)", [agent, name])
        db.execute("INSERT INTO rooms (id, agent_id, source, type, created_at)"
                   " VALUES (?, ?, 'test', 'GROUP', 0)", [ROOM, A])
        for agent, count in ((A, 3), (B, 2)):
            vq.enroll(db, agent, "handmade")
            for n in range(count):
                memory_id = f"00000000-0000-0000-0001-{len(made[A]) + len(made[B]):012d}"
                db.execute("INSERT INTO memories (id, type, created_at, content, agent_id,"
                           " room_id) VALUES (?, 'messages', ?, ?, ?, ?)",
                           [memory_id, n, json.dumps({"text": f"memory {n}"}), agent, ROOM])
                made[agent].append(memory_id)
            batch = vq.next_batch(db, agent, 100)
            vq.finish(db, agent, "handmade", [(p, [1.0, float(i), 0.0, 0.5])
                                              for i, p in enumerate(batch)])
        vq.withdraw(db, B)
        assert vq.pending_count(db, A) == 0
    finally:
        store.close()
    return made


def test_copy_without_pgvector_says_so_and_queues_the_memories(tmp_path: Path,
                                                               schema: str) -> None:
    made = _vector_source(tmp_path / ".eliza")
    copied = eliza("copy", "--from", str(tmp_path / ".eliza"), "--to", schema)
    assert copied.returncode == 0, copied.stderr
    out = copied.stdout
    assert "vectors: NOT copied: the target has no pgvector, so its 5 vector(s)" in out, out
    assert "3 memorie(s) queued in embedding_queue" in out
    assert "2 belong to agents without an embedding model" in out
    assert "memory_vectors_4" in out
    assert "not copied: no pgvector" in out
    queued = pg_rows(schema, "SELECT memory_id, agent_id FROM embedding_queue ORDER BY seq")
    assert queued == [(m, A) for m in made[A]]
    assert pg_rows(schema, "SELECT count(*) FROM memories") == [(5,)]
    # The queue's own sequence continues after the copied rows.
    assert pg_rows(schema, "SELECT nextval(pg_get_serial_sequence('embedding_queue', 'seq'))"
                   ) > pg_rows(schema, "SELECT max(seq) FROM embedding_queue")


# -- migrate and status ---------------------------------------------------------------------


def test_migrate_and_status_on_a_fresh_database(tmp_path: Path, schema: str) -> None:
    env = {"POSTGRES_URL": schema, "ELIZA_DATA_DIR": str(tmp_path / ".eliza")}
    before = eliza("status", "--json", env=env, cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    state = json.loads(before.stdout)
    assert state["store"] == "postgresql"
    (core_set,) = state["migrations"]
    assert core_set["name"] == "eliza"
    assert core_set["applied"] == []
    assert "m001_agents_servers_logs" in core_set["pending"]
    assert state["vectors"] is False
    assert "pgvector" in state["vector_reason"]

    migrated = eliza("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert f"applied {len(core_set['pending'])} migration(s)" in migrated.stdout
    assert "eliza: m009_jobs" in migrated.stdout

    after = json.loads(eliza("status", "--json", env=env, cwd=tmp_path).stdout)
    assert after["migrations"][0]["pending"] == []
    assert after["migrations"][0]["applied"] == core_set["pending"]
    assert after["rows"]["agents"] == 0
    assert after["rows"]["message_servers"] == 1
    text = eliza("status", env=env, cwd=tmp_path).stdout
    assert f"eliza: {len(core_set['pending'])} applied, 0 pending" in text
    assert "vector search: off: the pgvector extension is not installed" in text
    again = eliza("migrate", env=env, cwd=tmp_path)
    assert again.returncode == 0
    assert "up to date" in again.stdout
    # Nothing of SQLite was made in the data dir.
    assert not (tmp_path / ".eliza" / "eliza.db").exists()


def test_an_unreachable_database_is_one_error_line(tmp_path: Path) -> None:
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    env = {"POSTGRES_URL": down, "ELIZA_DATA_DIR": str(tmp_path / ".eliza")}
    _vector_source(tmp_path / "src")
    for args in (["migrate"], ["status"], ["copy", "--from", str(tmp_path / "src")]):
        failed = eliza(*args, env=env, cwd=tmp_path)
        assert failed.returncode == 1, (args, failed.stdout)
        (line,) = failed.stderr.strip().splitlines()
        assert line.startswith("eliza: cannot connect to postgresql://postgres@127.0.0.1:"), line
        assert "Traceback" not in failed.stderr
