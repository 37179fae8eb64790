"""bench/workers.py shortened: the original ElizaOS server (npm ci on first use), eliza with
one worker and with two on PostgreSQL and its shared bus, in one run. No figure is judged;
what is checked is what the full run relies on: every target serves every phase without an
error status, and with two workers every socket gets every broadcast wherever it landed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.backends import admin_url

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 40
BROADCASTS = 3


def run_workers_bench(*args: str) -> dict[str, Any]:
    env = {**os.environ, "ELIZA_BENCH_POSTGRES_URL": admin_url(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.workers", "--seconds", "1", "--connections", "4",
         "--messages", "4", "--concurrency", "2", "--clients", str(CLIENTS),
         "--fanout-messages", str(BROADCASTS), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.mark.slow
@pytest.mark.node
@pytest.mark.postgres
def test_workers_bench_shortened() -> None:
    report = run_workers_bench()
    results = report["results"]
    assert set(results) == {"original", "eliza_1", "eliza_2"}
    for name, result in results.items():
        for route in ("ping", "agents", "post"):
            assert result["rest"][route]["req_per_s"] > 0, (name, route)
        for mode in ("channel_poll", "session_http"):
            assert result["chat"][mode]["sequential"]["n"] == 4, (name, mode)
            assert result["chat"][mode]["concurrent_2"]["n"] == 4, (name, mode)
    assert len(results["eliza_2"]["worker_pids"]) == 2
    for name in ("eliza_1", "eliza_2"):
        fanout = results[name]["fanout"]
        assert fanout["missing"] == 0, (name, fanout)
        assert fanout["deliveries"] == CLIENTS * BROADCASTS
        spread = fanout["connections_by_worker_pid"]
        assert set(spread) <= {str(pid) for pid in results[name]["worker_pids"]}
        assert sum(spread.values()) >= CLIENTS  # the clients, and the poster's connection
    assert set(report["ratios"]) >= {"eliza_1_vs_original", "eliza_2_vs_original",
                                     "eliza_2_vs_eliza_1_rest"}
