"""`eliza db status` and `eliza db migrate` on the configured store: PostgreSQL when
`POSTGRES_URL` (or `DATABASE_URL`) is set, else the SQLite file in the data directory.
Status only reads: it creates no file, applies nothing and installs no extension."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import psycopg
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from ..settings import Settings
from ..store import sqlite as sqlite_store
from ..store.pg_schema import PgSchemaDatabase
from ..store.postgres import PgStore, describe
from .common import DbToolError, SetState, connect_pg, migration_sets, migration_state

# The tables whose rows status counts (those that exist).
MAIN_TABLES = ("agents", "message_servers", "channels", "central_messages", "worlds", "rooms",
               "entities", "memories", "sessions", "logs", "owed_messages", "embedding_models",
               "embedding_queue")
PGVECTOR_MISSING = ("the pgvector extension is not installed on this PostgreSQL server"
                    " (semantic search needs it; text search works)")


@dataclass
class Status:
    store: str
    location: str
    exists: bool
    migrations: list[SetState] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    vectors: bool = False
    vector_reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def status(settings: Settings, sets: list[Migrations] | None = None) -> Status:
    sets = migration_sets(settings) if sets is None else sets
    if settings.database_url:
        return _pg_status(settings, sets)
    return _sqlite_status(settings, sets)


def _pg_status(settings: Settings, sets: list[Migrations]) -> Status:
    url = settings.database_url or ""
    with connect_pg(url, settings.postgres_connect_timeout) as conn:
        result = Status("postgresql", describe(url), True,
                        migration_state(PgSchemaDatabase(conn), sets))
        for table in MAIN_TABLES:
            if _scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", [f'"{table}"']):
                result.rows[table] = int(_scalar(conn, f'SELECT count(*) FROM "{table}"'))
        vector_tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema ="
            " current_schema() AND table_name LIKE 'memory\\_vectors\\_%%'")]
        if vector_tables:
            result.rows["vectors"] = sum(
                int(_scalar(conn, f'SELECT count(*) FROM "{t}"')) for t in vector_tables)
        # What the server would decide when it opens (without creating the extension here).
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
            result.vectors = True
        elif conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
            result.vectors = True
            result.vector_reason = ("pgvector is available but not created in this database:"
                                    " the server creates it when it starts (CREATE EXTENSION"
                                    " vector needs the right to create extensions)")
        else:
            result.vector_reason = PGVECTOR_MISSING
    return result


def _scalar(conn: psycopg.Connection[Any], query: str, params: Sequence[Any] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def _sqlite_status(settings: Settings, sets: list[Migrations]) -> Status:
    path = settings.db_path
    result = Status("sqlite", str(path), path.is_file())
    probe = sqlite_store.sqlite.connect(":memory:")
    result.vectors = sqlite_store._load_vec(probe)
    probe.close()
    result.vector_reason = "" if result.vectors else sqlite_store.SqliteStore.vector_reason
    if not result.exists:
        result.migrations = [SetState(s.name, [], [m.name for m in s.pending(Database(
            memory=True))]) for s in sets]
        return result
    conn = sqlite_store.sqlite.connect(f"file:{path}?mode=ro", uri=True)
    try:
        loaded = sqlite_store._load_vec(conn)
        db = Database(conn, execute_plugins=False)
        result.migrations = migration_state(db, sets)
        for table in MAIN_TABLES:
            if db[table].exists():
                result.rows[table] = db.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0]
        vector_tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name LIKE 'memory_vectors_%' AND sql LIKE '%USING vec0%'")]
        if vector_tables and loaded:
            result.rows["vectors"] = sum(db.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0]
                                         for t in vector_tables)
    finally:
        conn.close()
    return result


def print_status(result: Status, out: TextIO, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.as_json(), indent=2), file=out)
        return
    where = result.location if result.exists else f"{result.location} (not created yet)"
    print(f"store: {result.store} {where}", file=out)
    print("migrations:", file=out)
    for state in result.migrations:
        print(f"  {state.name}: {len(state.applied)} applied, {len(state.pending)} pending"
              + (f" ({', '.join(state.pending)})" if state.pending else ""), file=out)
    if result.rows:
        print("rows:", file=out)
        width = max(len(t) for t in result.rows)
        for table, count in result.rows.items():
            print(f"  {table:<{width}}  {count:>10,}", file=out)
    if not result.vectors:
        vectors = f"off: {result.vector_reason}"
    else:
        vectors = f"available ({result.vector_reason})" if result.vector_reason else "available"
    print(f"vector search: {vectors}", file=out)


def migrate(settings: Settings, out: TextIO) -> None:
    """Apply the pending migrations of the configured store and say which ran."""
    sets = migration_sets(settings)
    before = status(settings, sets)
    if settings.database_url:
        store = PgStore(settings.database_url, pool_size=1,
                        connect_timeout=settings.postgres_connect_timeout,
                        statement_timeout=max(settings.postgres_statement_timeout, 600))
        store.open_sync(sets)
        store.close()
    else:
        sqlite = sqlite_store.SqliteStore(settings.db_path)
        try:
            sqlite.open_sync(sets)
        except Exception as exc:
            raise DbToolError(f"cannot open {settings.db_path}: {exc}") from exc
        finally:
            sqlite.close()
    applied = [(s.name, name) for s in before.migrations for name in s.pending]
    print(f"{before.store} {before.location}: "
          + (f"applied {len(applied)} migration(s)" if applied else "up to date"), file=out)
    for set_name, name in applied:
        print(f"  {set_name}: {name}", file=out)
