"""What the `eliza db` commands share: the migration sets a server would apply, reaching
PostgreSQL with one clear line when it cannot be reached, and the data directory's lock."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import psycopg
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from ..settings import Settings
from ..store import core_migrations
from ..store.postgres import describe


class DbToolError(Exception):
    """A failure the command reports as one line (exit status 1)."""


def migration_sets(settings: Settings) -> list[Migrations]:
    """The core set, then the installed plugins' sets, as a server with `settings` applies
    them (plugins may look at the server they are given, so they get a real one)."""
    from ..server import AgentServer

    server = AgentServer(settings)
    sets: list[Migrations] = [core_migrations]
    for result in server.pm.hook.register_migrations(server=server):
        sets.extend(result or [])
    return sets


def connect_pg(url: str, timeout: float) -> psycopg.Connection[Any]:
    """An autocommit connection, or `DbToolError` saying why there is none (one line)."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)))
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DbToolError(f"cannot connect to {describe(url)}: {reason}") from exc


@dataclass(frozen=True)
class SetState:
    """The applied and pending migrations of one set."""

    name: str
    applied: list[str]
    pending: list[str]


def migration_state(db: Any, sets: Sequence[Migrations]) -> list[SetState]:
    """`db` is sqlite-utils' `Database`, or `PgSchemaDatabase` (the same calls)."""
    database = cast(Database, db)
    return [SetState(s.name, [m.name for m in s.applied(database)],
                     [m.name for m in s.pending(database)]) for s in sets]


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold the lock a server holds on its data directory (`server.lock`), so no server
    writes to the database while it is copied."""
    path = data_dir / "server.lock"
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DbToolError(f"a server is running on {data_dir}: stop it first, so nothing"
                              " is written while the database is copied") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
