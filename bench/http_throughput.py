"""REST throughput: eliza's `GET /api/server/ping` and `GET /api/agents` against a bare ASGI
app on the same stack (hypercorn's trio worker), with wrk, in one run.

    python bench/http_throughput.py [--seconds 10] [--connections 32]

Needs `wrk` (Debian: apt-get install wrk). Prints req/s and the ratios DESIGN.md targets:
ping >= 80% of bare ASGI, and /api/agents compared with the original's 680 req/s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL_AGENTS_RPS = 680.0  # ElizaOS 1.7.2 under node on this machine (DESIGN.md)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(app: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "-k", "trio", "-b", f"127.0.0.1:{port}", app],
        cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(url + "/api/server/ping", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{app} did not start")


def wrk(url: str, seconds: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True, text=True, check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise SystemExit(f"cannot read wrk output:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {"ELIZA_DATA_DIR": str(Path(tmp) / ".eliza"), "ELIZA_RATE_LIMIT": "off"}
        bare, bare_url = start("bench.bare_asgi:app", {"PYTHONPATH": str(ROOT)}, ROOT)
        try:
            results["bare_asgi"] = wrk(bare_url + "/", args.seconds, args.connections)
        finally:
            bare.terminate()
            bare.wait()
        eliza, url = start("eliza.app:app", env, Path(tmp))
        try:
            results["ping"] = wrk(url + "/api/server/ping", args.seconds, args.connections)
            results["agents"] = wrk(url + "/api/agents", args.seconds, args.connections)
        finally:
            eliza.terminate()
            eliza.wait()
    report = {
        "req_per_s": {k: round(v) for k, v in results.items()},
        "ping_vs_bare_asgi": round(results["ping"] / results["bare_asgi"], 2),
        "agents_vs_original": round(results["agents"] / ORIGINAL_AGENTS_RPS, 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
