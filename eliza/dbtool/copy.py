"""`eliza db copy --from <data dir> --to <postgres url>`: an embedded (SQLite) database
into an empty PostgreSQL one.

The target gets the same migrations first (core and installed plugins'), then every table
of the source is copied in foreign-key order, in rowid order into the target's `rowid`
identity column (so insertion order reads the same), through COPY in batches, all inside
one transaction: a copy that fails or whose counts differ leaves the target empty. The
identity sequences are then moved past the copied values, so new rows come after them.
The source's data directory is locked as a server locks it, so nothing writes meanwhile.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import psycopg
from psycopg import sql
from sqlite_utils import Database
from tqdm import tqdm  # type: ignore[import-untyped]

from ..ids import DEFAULT_SERVER_ID
from ..settings import Settings
from ..store.postgres import PgStore, describe
from ..store.sqlite import SqliteStore
from .carry import (
    BATCH,
    Progress,
    VectorCopy,
    carry_vectors,
    count_vectors,
    secret_lines,
    vector_lines,
)
from .common import DbToolError, connect_pg, data_dir_lock, migration_sets

# Tables of the migrations' own bookkeeping: the target has its own record.
_SKIPPED = {"_sqlite_migrations"}


@dataclass(frozen=True)
class TablePlan:
    name: str
    columns: list[str]  # copied as they are
    rowid: bool  # the source's rowid goes into the target's `rowid` column


class CountsDiffer(Exception):
    """Raised inside the copy's transaction, so nothing stays written."""


def copy_database(source_dir: Path, url: str, out: TextIO, *, progress: bool = True) -> int:
    source_dir = source_dir.resolve()
    # The source's own settings: its `.env` may hold SECRET_SALT or narrow the plugins.
    settings = Settings.from_env(environ={**os.environ, "ELIZA_DATA_DIR": str(source_dir)})
    if not settings.db_path.is_file():
        raise DbToolError(f"no embedded database at {settings.db_path}")
    with data_dir_lock(source_dir):
        sets = migration_sets(settings)
        source = SqliteStore(settings.db_path)
        try:
            source.open_sync(sets)
        except Exception as exc:
            raise DbToolError(f"cannot open {settings.db_path}: {exc}") from exc
        try:
            connect_pg(url, settings.postgres_connect_timeout).close()
            target = PgStore(url, pool_size=1, connect_timeout=settings.postgres_connect_timeout,
                             statement_timeout=max(settings.postgres_statement_timeout, 3600))
            target.open_sync(sets)
            try:
                with target.pool.connection() as conn:
                    return _copy(source.reader.db, conn, target, url, out, progress,
                                 secret_lines(source.reader.db, source_dir,
                                              settings.secret_salt))
            finally:
                target.close()
        finally:
            source.close()


def _copy(src: Database, conn: psycopg.Connection[Any], target: PgStore, url: str,
          out: TextIO, progress: bool, secrets: list[str]) -> int:
    plans = plan_tables(src, conn)
    occupied = tables_with_data(conn, plans)
    if occupied:
        raise DbToolError(
            f"{describe(url)} already holds data (in {', '.join(occupied)}): copy only fills"
            " an empty database, nothing was changed")
    counts = {p.name: _count(src, p.name) for p in plans}
    total = sum(counts.values()) + sum(count_vectors(src).values())
    started = time.monotonic()
    print(f"copying {total:,} rows into {describe(url)}", file=out)
    try:
        with tqdm(total=total, unit="row", disable=not progress, file=sys.stderr,
                  unit_scale=True) as bar, conn.transaction():
            for plan in plans:
                _copy_table(src, conn, plan, bar)
            reset_sequences(conn, [p.name for p in plans])
            vectors = carry_vectors(src, conn, target.vectors, bar)
            rows = _compare(conn, counts, vectors)
            if any(row.differs for row in rows):
                raise CountsDiffer
    except CountsDiffer:
        _print_counts(rows, out)
        print("eliza: the counts differ: the copy was undone, the target is empty again",
              file=sys.stderr)
        return 1
    _print_counts(rows, out)
    elapsed = time.monotonic() - started
    print(f"copied {total:,} rows in {elapsed:.1f} s", file=out)
    for line in [*vector_lines(vectors), *secrets]:
        print(line, file=out)
    return 0


def plan_tables(src: Database, conn: psycopg.Connection[Any]) -> list[TablePlan]:
    """The source's tables (not its text and vector indexes, which the target builds its
    own way), parents before children; refuses when the target lacks a table or a column,
    which would lose data (a plugin of the source not installed here)."""
    virtual = [name for (name,) in src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%'")]
    tables: dict[str, str] = {}
    for name, ddl in src.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid"):
        if (name in _SKIPPED or name.startswith("sqlite_") or name in virtual
                or any(name.startswith(f"{v}_") for v in virtual)):
            continue  # internal, an index, or a shadow table of an index
        tables[name] = ddl or ""
    missing: list[str] = []
    plans: dict[str, TablePlan] = {}
    for name, ddl in tables.items():
        target = _pg_columns(conn, name)
        columns = [row[1] for row in src.execute(f"PRAGMA table_info([{name}])")]
        lost = [c for c in columns if c not in target]
        if not target or lost:
            missing.append(name if not target else f"{name}({', '.join(lost)})")
        rowid = "rowid" in target and "WITHOUT ROWID" not in ddl.upper()
        plans[name] = TablePlan(name, columns, rowid)
    if missing:
        raise DbToolError("the target has no place for " + ", ".join(missing)
                          + " (install the plugins the source was used with): nothing copied")
    return [plans[name] for name in _fk_order(src, list(plans))]


def _pg_columns(conn: psycopg.Connection[Any], table: str) -> set[str]:
    """The columns a row may be given (generated ones, as the text search's, are not)."""
    return {name for (name,) in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = %s AND is_generated = 'NEVER'", [table])}


def _fk_order(src: Database, names: list[str]) -> list[str]:
    parents = {name: {row[2] for row in src.execute(f"PRAGMA foreign_key_list([{name}])")}
               - {name} for name in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= {*ordered}
                 | (parents[n] - set(names))]
        if not ready:  # a cycle: keep schema order for the rest (COPY checks at the end)
            ready = [n for n in names if n not in ordered]
        ordered.append(ready[0])
    return ordered


def tables_with_data(conn: psycopg.Connection[Any], plans: list[TablePlan]) -> list[str]:
    """Tables of the target with rows, besides the default message server the migrations
    create (the source has it too)."""
    found = []
    for plan in plans:
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {}{})").format(
            sql.Identifier(plan.name),
            sql.SQL(" WHERE id <> {}").format(sql.Literal(DEFAULT_SERVER_ID))
            if plan.name == "message_servers" else sql.SQL(""))
        row = conn.execute(query).fetchone()
        if row and row[0]:
            found.append(plan.name)
    return found


def _count(src: Database, table: str) -> int:
    return int(src.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0])


def _copy_table(src: Database, conn: psycopg.Connection[Any], plan: TablePlan,
                bar: Progress) -> None:
    # Rows already there are the migrations' seed or what triggers made during this copy
    # (the embedding queue's): the source's own rows replace them.
    conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(plan.name)))
    names = (["rowid"] if plan.rowid else []) + plan.columns
    selected = ", ".join(("rowid" if c == "rowid" else f"[{c}]") for c in names)
    rows = src.execute(f"SELECT {selected} FROM [{plan.name}]"
                       + (" ORDER BY rowid" if plan.rowid else ""))
    bar.set_postfix_str(plan.name)
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(plan.name), sql.SQL(", ").join(map(sql.Identifier, names)))
    with conn.cursor() as cur, cur.copy(copy_sql) as copy:
        while batch := rows.fetchmany(BATCH):
            for row in batch:
                copy.write_row(row)
            bar.update(len(batch))


def reset_sequences(conn: psycopg.Connection[Any], tables: list[str]) -> None:
    """Move every identity sequence past the largest copied value."""
    for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE"
            " table_schema = current_schema() AND is_identity = 'YES'"
            " AND table_name = ANY(%s)", [tables]).fetchall():
        conn.execute(sql.SQL(
            "SELECT setval(pg_get_serial_sequence({}, {}), coalesce(max({}), 0) + 1, false)"
            " FROM {}").format(sql.Literal(f'"{table}"'), sql.Literal(column),
                               sql.Identifier(column), sql.Identifier(table)))


@dataclass(frozen=True)
class Count:
    table: str
    source: int
    target: int | None  # None: not copied (vectors without pgvector)
    note: str = ""
    extra: int = 0  # rows the copy adds on purpose (memories queued to re-embed)

    @property
    def differs(self) -> bool:
        return self.target is not None and self.target != self.source + self.extra


def _compare(conn: psycopg.Connection[Any], counts: dict[str, int], vectors: VectorCopy
             ) -> list[Count]:
    """Source and target counts of every table and vector table."""
    def target_count(table: str) -> int:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(table))).fetchone()
        return int(row[0]) if row else 0

    rows = []
    for table, count in counts.items():
        if table == "embedding_queue" and vectors.requeued:
            rows.append(Count(table, count, target_count(table),
                              f"+{vectors.requeued:,} queued to re-embed", vectors.requeued))
        else:
            rows.append(Count(table, count, target_count(table)))
    for table, count in vectors.source_counts.items():
        if vectors.copied:
            rows.append(Count(table, count, target_count(table)))
        else:
            rows.append(Count(table, count, None, "not copied: no pgvector"))
    return rows


def _print_counts(rows: list[Count], out: TextIO) -> None:
    width = max([len("table"), *(len(r.table) for r in rows)])
    print(f"{'table':<{width}}  {'source':>10}  {'target':>10}", file=out)
    for row in rows:
        shown = "-" if row.target is None else f"{row.target:,}"
        flag = "  DIFFERS" if row.differs else ""
        note = f"  ({row.note})" if row.note else ""
        print(f"{row.table:<{width}}  {row.source:>10,}  {shown:>10}{flag}{note}", file=out)
