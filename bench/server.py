"""The real server for a benchmark: `hypercorn -k trio <app>` on a free loopback port.

Run the benchmarks from the repository root as modules (`python -m bench.fanout ...`), so
`bench.*` and `eliza` import without any path set-up.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from eliza.testing.live import child_pids

ROOT = Path(__file__).resolve().parent.parent
STARTUP = 30.0  # seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    data_dir: Path, *, app: str = "eliza.app:app", env: dict[str, str] | None = None,
    wait_for_agent: bool = True,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the app with its data in `data_dir` and the rate limits off; return once it
    answers ping (and, with `wait_for_agent`, lists an agent)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "-k", "trio", "-b", f"127.0.0.1:{port}", app],
        cwd=ROOT,
        env={**os.environ, "ELIZA_DATA_DIR": str(data_dir), "ELIZA_RATE_LIMIT": "off",
             "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{app} exited during start-up")
        try:
            if httpx.get(url + "/api/server/ping", timeout=1).status_code == 200 and (
                not wait_for_agent
                or httpx.get(url + "/api/agents", timeout=1).json()["data"]["agents"]
            ):
                return proc, url
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{app} did not start within {STARTUP:.0f} s")


@contextmanager
def serving(data_dir: Path, **kw: object) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`start_server`, and stop the server (SIGTERM, then SIGKILL after 30 s) on exit."""
    proc, url = start_server(data_dir, **kw)  # type: ignore[arg-type]
    try:
        yield proc, url
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM (a graceful stop), then SIGKILL after `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- reading the server process (Linux /proc; psutil is not a dependency) -------------------


def worker_pid(data_dir: Path, parent: int) -> int:
    """The hypercorn worker serving the app (hypercorn's only child)."""
    children = child_pids(parent)
    if not children:
        raise SystemExit(f"hypercorn ({parent}) has no worker process")
    return children[0]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for {pid}")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
