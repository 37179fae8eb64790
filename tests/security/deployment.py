"""Real server processes that share one PostgreSQL schema, as the workers of a deployment:
the project's `LiveServer`, or one serving `tests.security.limited_app` (a small API limit)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from conftest import ROOT, LiveServer


class LimitedServer(LiveServer):
    """A server whose API limit is `TEST_API_RATE_LIMIT` (see limited_app)."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "hypercorn", "-k", "trio", "-b",
                f"127.0.0.1:{self.port}", "tests.security.limited_app:app"]

    def start(self, timeout: float = 30.0, *, port: int | None = None) -> None:
        # The server runs in its data directory's parent: the tests package is found here.
        path = os.environ.get("PYTHONPATH")
        self.env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)
        super().start(timeout, port=port)


@contextmanager
def running(servers: Sequence[LiveServer], timeout: float = 60.0) -> Iterator[None]:
    """Start `servers` at once (as a deployment's workers come up), stop them all after."""
    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            for started in [pool.submit(s.start, timeout) for s in servers]:
                started.result()
        yield
    finally:
        for server in servers:
            server.stop()


# Hosts of one deployment share their secrets salt (each has a data directory of its own).
DEPLOYMENT_SALT = "salt-of-the-test-deployment"


def worker_env(schema_url: str, **env: str) -> dict[str, str]:
    """A deployment's worker on `schema_url` (the PostgreSQL bus makes it shared); an
    empty SECRET_SALT leaves it to the data directory's salt file."""
    return {"POSTGRES_URL": schema_url, "ELIZA_BUS": "postgres",
            "ELIZA_DEFAULT_AGENT": "false", "SECRET_SALT": DEPLOYMENT_SALT, **env}


def data_dir(tmp_path: Path, name: str) -> Path:
    return tmp_path / name / ".eliza"
