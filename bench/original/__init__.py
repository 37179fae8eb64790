"""The original ElizaOS server, 1.7.2 under node, as a benchmark target.

`package.json` and `package-lock.json` here pin `@elizaos/server`, `@elizaos/core`,
`@elizaos/plugin-sql` and `@elizaos/plugin-bootstrap` 1.7.2; `install()` runs `npm ci` the
first time (about 45 s, ~450 MB in `node_modules/`). `start.mjs` starts the server with one
agent whose model answers at once (so a turn measures the server, not an LLM), its data in
PGLite (the original's embedded default) in a directory of the caller's, on a free loopback
port, with its API rate limit made harmless (see start.mjs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.server import free_port, stop

HERE = Path(__file__).resolve().parent
STARTUP = 180.0  # seconds: migrations and the agent's start take 5-20 s on a busy machine
INSTALL_TIMEOUT = 900.0


class OriginalUnavailable(RuntimeError):
    """The original server cannot be installed or started here (the message says why)."""


@dataclass(frozen=True)
class OriginalServer:
    proc: subprocess.Popen[bytes]
    url: str
    agent_id: str
    log_path: Path


def install() -> None:
    """`npm ci` in this directory unless its `node_modules` is there."""
    if (HERE / "node_modules" / "@elizaos" / "server").is_dir():
        return
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise OriginalUnavailable(f"{tool} is not installed (the original runs on Node 20)")
    try:
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE,
                              capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise OriginalUnavailable(f"npm ci did not finish within {INSTALL_TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        raise OriginalUnavailable(f"npm ci failed ({done.returncode}):\n{done.stderr[-3000:]}")


@contextmanager
def serving_original(work_dir: Path, *, rate_limit_off: bool = True) -> Iterator[OriginalServer]:
    """The original server with its data and log in `work_dir`, stopped (SIGTERM, then
    SIGKILL after 30 s) on exit."""
    install()
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / "original.log"
    env = {**os.environ, "PORT": str(free_port()), "DATA_DIR": str(work_dir / "db"),
           "BENCH_RATE_LIMIT": "off" if rate_limit_off else "on"}
    # An inherited POSTGRES_URL would put the original's plugin-sql on a shared database.
    for name in ("POSTGRES_URL", "DATABASE_URL"):
        env.pop(name, None)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(["node", str(HERE / "start.mjs")], cwd=HERE, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        ready = _wait_ready(proc, log_path)
        yield OriginalServer(proc, f"http://127.0.0.1:{ready['port']}",
                             str(ready["agents"][0]), log_path)
    finally:
        stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], log_path: Path) -> dict[str, Any]:
    """The `READY` line's fields: port, pid, agents."""
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith("READY "):
                ready: dict[str, Any] = json.loads(line[len("READY "):])
                return ready
        if proc.poll() is not None:
            raise OriginalUnavailable(f"the original server exited ({proc.returncode}):\n"
                                      + _tail(log_path))
        time.sleep(0.2)
    raise OriginalUnavailable(f"the original server did not start within {STARTUP:.0f} s:\n"
                              + _tail(log_path))


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
