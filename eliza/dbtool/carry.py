"""What `eliza db copy` carries besides plain rows: the vectors (sqlite-vec tables to
pgvector tables, or queued for re-embedding when the target has no pgvector) and the
agents' sealed secrets (copied as they are; the key is not in the database)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql
from sqlite_utils import Database

from ..security.secrets import SecretBox, secret_paths
from ..store import vectors
from ..store.postgres import PgTransaction

BATCH = 2000


class Progress(Protocol):
    """The part of a tqdm bar the copy uses."""

    def update(self, n: int) -> object: ...

    def set_postfix_str(self, s: str) -> None: ...
_SEALED = ("enc:v1:", "enc:v2:")


@dataclass
class VectorCopy:
    """The vectors of the source, and what became of them on the target."""

    copied: bool = False
    source_counts: dict[str, int] = field(default_factory=dict)
    requeued: int = 0
    unqueued: int = 0


def count_vectors(src: Database) -> dict[str, int]:
    rows = src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'memory_vectors_%'"
        " AND sql LIKE '%USING vec0%' ORDER BY name").fetchall()
    return {name: src.execute(f"SELECT count(*) FROM [{name}]").fetchone()[0]
            for (name,) in rows}


def pg_vector_table(conn: psycopg.Connection[Any], dimensions: int) -> str:
    """The target's table for vectors of `dimensions`, as the server makes it."""
    return vectors.ensure_table(PgTransaction(conn), dimensions)


def carry_vectors(src: Database, conn: psycopg.Connection[Any], pgvector: bool,
                  bar: Progress) -> VectorCopy:
    """Copy every vector (inside the caller's transaction), or, without pgvector, queue
    their memories in `embedding_queue` for the agents that have an embedding model."""
    result = VectorCopy(copied=pgvector, source_counts=count_vectors(src))
    missing: list[str] = []
    for name, count in result.source_counts.items():
        rows = src.execute(f"SELECT memory_id, agent_id, model, room_id, type,"
                           f" vec_to_json(embedding) FROM [{name}]")
        if not pgvector:
            missing.extend(row[0] for row in rows)
            bar.update(count)
            continue
        target = pg_vector_table(conn, int(name.rsplit("_", 1)[1]))
        columns = "memory_id, agent_id, model, room_id, type, embedding"
        with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(target), sql.SQL(columns))) as copy:
            while batch := rows.fetchmany(BATCH):
                for row in batch:
                    copy.write_row(row)
                bar.update(len(batch))
    if missing:
        queued = conn.execute(
            "INSERT INTO embedding_queue (memory_id, agent_id) SELECT m.id, m.agent_id"
            " FROM memories m JOIN embedding_models e ON e.agent_id = m.agent_id"
            " WHERE m.id = ANY(%s) ORDER BY m.rowid ON CONFLICT (memory_id) DO NOTHING",
            [missing])
        result.requeued = queued.rowcount
        enrolled = conn.execute(
            "SELECT count(*) FROM memories m JOIN embedding_models e ON e.agent_id = m.agent_id"
            " WHERE m.id = ANY(%s)", [missing]).fetchone()
        result.unqueued = len(missing) - (enrolled[0] if enrolled else 0)
    return result


def vector_lines(result: VectorCopy) -> list[str]:
    total = sum(result.source_counts.values())
    if not total:
        return ["vectors: the source has none"]
    if result.copied:
        return [f"vectors: {total:,} copied (pgvector)"]
    lines = [f"vectors: NOT copied: the target has no pgvector, so its {total:,} vector(s)"
             " stay in the SQLite file only (text search works; semantic search needs"
             " pgvector)."]
    if result.requeued:
        lines.append(f"vectors: {result.requeued:,} memorie(s) queued in embedding_queue: an"
                     " embedding plugin recomputes them once vectors can be stored")
    if result.unqueued:
        lines.append(f"vectors: {result.unqueued:,} belong to agents without an embedding"
                     " model and are not queued")
    return lines


def secret_lines(src: Database, source_dir: Path, configured_salt: str | None) -> list[str]:
    """What the operator must do so the PostgreSQL server opens the copied secrets: the key
    is derived from a salt that is deliberately not in the database (a copy of the database
    alone does not open them)."""
    sealed: list[str] = []
    for (text,) in src.execute("SELECT character FROM agents"):
        try:
            character = json.loads(text)
        except ValueError:
            continue
        if isinstance(character, dict):
            sealed += [v for secret_map in secret_paths(character) for v in secret_map.values()
                       if isinstance(v, str) and v.startswith(_SEALED)]
    if not sealed:
        return ["secrets: no agent has sealed secrets"]
    salt_file = source_dir / "secret_salt"
    if configured_salt:
        where, advice = "SECRET_SALT", "keep SECRET_SALT set to the same value for the server"
    elif salt_file.is_file():
        where = str(salt_file)
        advice = (f"run the PostgreSQL server with ELIZA_DATA_DIR={source_dir} (it also"
                  " keeps the uploads), or with SECRET_SALT set to that file's contents")
    else:
        return [f"secrets: WARNING: {len(sealed)} sealed secret(s), but neither SECRET_SALT"
                f" nor {salt_file} holds the salt that opens them"]
    box = SecretBox(source_dir, configured_salt)
    box.open()
    unreadable = sum(1 for value in sealed if box.open_value(value) is None)
    lines = [f"secrets: {len(sealed)} sealed secret(s) copied encrypted; their key comes from"
             f" {where}, which is not in the database: {advice}"]
    if unreadable:
        lines.append(f"secrets: WARNING: {unreadable} of them do not open with {where}"
                     " (sealed with another salt)")
    return lines
