"""REST throughput: eliza's `GET /api/server/ping` and `GET /api/agents` against a bare ASGI
app on the same stack (hypercorn's trio worker), with wrk, in one run.

    python bench/http_throughput.py [--seconds 10] [--connections 32]

Needs `wrk` (Debian: apt-get install wrk). Prints req/s and the ratios the targets name
(bench/README.md, "Targets"): ping >= 80% of bare ASGI, and /api/agents compared with the
original's 680 req/s (at least 2x).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.server import start_server

ORIGINAL_AGENTS_RPS = 680.0  # ElizaOS 1.7.2 under node on this machine


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
        data_dir = Path(tmp) / ".eliza"
        bare, bare_url = start_server(data_dir, app="bench.bare_asgi:app",
                                      wait_for_agent=False)
        try:
            results["bare_asgi"] = wrk(bare_url + "/", args.seconds, args.connections)
        finally:
            bare.terminate()
            bare.wait()
        eliza, url = start_server(data_dir)
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
