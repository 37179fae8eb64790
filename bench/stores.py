"""The store a benchmark's server runs on: SQLite in its data directory (the default) or
PostgreSQL in a fresh schema of its own, dropped afterwards even when the run fails.

The database is `ELIZA_BENCH_POSTGRES_URL` (default: the local server's `test` database,
trust auth); the server is pointed at the schema through libpq's `options`
(`-csearch_path=<schema>`) in its `POSTGRES_URL`. The data directory is used either way: it
holds the server's lock file (`bench.server.worker_pid` reads it).
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, cast
from urllib.parse import quote

import psycopg
from psycopg import sql

Store = Literal["sqlite", "postgres"]
STORES: tuple[Store, ...] = ("sqlite", "postgres")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """The database the benchmarks make their schemas in."""
    return os.environ.get("ELIZA_BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", choices=STORES, default="sqlite",
                        help="where the server keeps its data (default: sqlite); postgres "
                             "uses a new schema in $ELIZA_BENCH_POSTGRES_URL")


def store_of(args: argparse.Namespace) -> Store:
    return cast(Store, args.store)


def with_options(url: str, *options: str) -> str:
    """`url` whose connections start with the given `-c name=value` settings (libpq's
    `options` parameter)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(' '.join(options))}"


@contextmanager
def postgres_schema(prefix: str = "b", *, base_url: str | None = None,
                    options: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """A new empty schema `<prefix>_<random>`: yields (its name, a URL whose connections use
    it, with `options` added); drops it (CASCADE) on exit."""
    base = base_url or postgres_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise SystemExit(f"--store postgres needs a PostgreSQL server at {base} "
                         f"(ELIZA_BENCH_POSTGRES_URL): {exc}") from exc
    try:
        yield name, with_options(base, f"-csearch_path={name}", *options)
    finally:
        with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(name)))


@contextmanager
def store_env(store: Store) -> Iterator[dict[str, str]]:
    """The environment a server needs for `store` (to pass to `serving`/`start_server`):
    nothing for SQLite; for PostgreSQL, `POSTGRES_URL` naming a fresh schema that is dropped
    on exit."""
    if store == "sqlite":
        # An inherited POSTGRES_URL/DATABASE_URL would silently put the server on PostgreSQL.
        yield {"POSTGRES_URL": "", "DATABASE_URL": ""}
        return
    with postgres_schema() as (_name, url):
        yield {"POSTGRES_URL": url}
