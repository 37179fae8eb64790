"""The stores the suite runs on: SQLite (the data directory) and PostgreSQL, each test in a
schema of its own in the database `ELIZA_TEST_POSTGRES_URL` names (default: the local
server's `test` database), so tests never see each other's rows.

A test takes part through `make_settings` / `LiveServer` (conftest), which add the
current backend's environment (`POSTGRES_URL`) to what the test sets."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from eliza.store import core_migrations
from eliza.store.postgres import PgStore, translate

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    return os.environ.get("ELIZA_TEST_POSTGRES_URL") or DEFAULT_URL


def with_search_path(url: str, schema: str) -> str:
    """`url` whose connections use `schema` (libpq's `options` parameter)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


def create_schema(prefix: str = "t") -> tuple[str, str]:
    """A new empty schema: (its name, a URL whose connections use it)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin_url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"the PostgreSQL tests need a server at {admin_url()} (ELIZA_TEST_POSTGRES_URL):"
            f" {exc}") from exc
    return name, with_search_path(admin_url(), name)


def drop_schema(name: str) -> None:
    with psycopg.connect(admin_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@dataclass
class Backend:
    """One store under test. `env` is what a server needs to use it (created on first use,
    so a test that never starts a server costs nothing)."""

    name: str
    schemas: list[str] = field(default_factory=list)
    _env: dict[str, str] | None = None

    @property
    def env(self) -> dict[str, str]:
        if self._env is None:
            self._env = {}
            if self.name == "postgres":
                schema, url = create_schema()
                self.schemas.append(schema)
                # The servers of a test share its schema, as the hosts of a deployment
                # do: they share its secrets salt too.
                self._env = {"POSTGRES_URL": url, "SECRET_SALT": f"salt-of-{schema}"}
        return self._env

    def cleanup(self) -> None:
        for schema in self.schemas:
            drop_schema(schema)
        self.schemas.clear()


@contextmanager
def own_schema(prefix: str = "t") -> Iterator[tuple[str, str]]:
    """A new empty schema for the block: (its name, a URL whose connections use it),
    dropped at its end."""
    name, url = create_schema(prefix)
    try:
        yield name, url
    finally:
        drop_schema(name)


@asynccontextmanager
async def migrated_pg_store(prefix: str, *, statement_timeout: float = 5.0
                            ) -> AsyncIterator[PgStore]:
    """An open PgStore on a new schema with the core migrations applied; dropped after."""
    with own_schema(prefix) as (_, url):
        opened = PgStore(url, pool_size=4, connect_timeout=5, statement_timeout=statement_timeout)
        await opened.open([core_migrations])
        try:
            yield opened
        finally:
            opened.close()


@contextmanager
def shared_store(name: str) -> Iterator[dict[str, str]]:
    """The environment of a server several tests share (a fixture wider than a test, which
    the per-test `backend` comes too late for), on store `name`: on PostgreSQL a schema of
    its own, dropped afterwards."""
    if name != "postgres":
        yield {"POSTGRES_URL": ""}
        return
    with own_schema("shared") as (_, url):
        yield {"POSTGRES_URL": url}


# The store of the running test (set by conftest's `backend` fixture).
current = Backend("sqlite")


class ServerDatabase:
    """The database of a server of the current test, opened beside it (or while it is
    down): `execute(sql, params)` with `?` placeholders, on either store."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        if self.dialect == "postgresql":
            return self.conn.execute(translate(text, bool(params)), list(params) or None)
        return self.conn.execute(text, list(params))


@contextmanager
def server_database(data_dir: Path) -> Iterator[ServerDatabase]:
    """The database of the server whose data directory is `data_dir`; committed on exit."""
    url = current.env.get("POSTGRES_URL")
    if url:
        with psycopg.connect(url, autocommit=True) as conn:
            yield ServerDatabase(conn, "postgresql")
        return
    with closing(sqlite3.connect(data_dir / "eliza.db")) as db, db:
        yield ServerDatabase(db, "sqlite")
