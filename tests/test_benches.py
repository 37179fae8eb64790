"""The chat round trip, REST throughput and density benchmarks, shortened, on each store (the
`backend` fixture: SQLite, and PostgreSQL in a schema of the suite's database): they run to
the end and report figures of the right shape. No figure is judged here; the full runs are
`python -m bench.<name> --store ...` and `python -m bench.both_stores` (bench/README.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.stores import postgres_schema
from tests.backends import Backend, admin_url

ROOT = Path(__file__).resolve().parent.parent


def run_bench(name: str, store: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "ELIZA_BENCH_POSTGRES_URL": admin_url(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", f"bench.{name}", "--store", store, *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["store"] == store
    return report


def bench_schemas() -> set[str]:
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'b\\_%'").fetchall()
    return {row[0] for row in rows}


def assert_round_trips(summary: dict[str, Any], n: int) -> None:
    assert summary["n"] == n
    assert 0 < summary["p50_ms"] <= summary["p99_ms"]
    assert summary["msgs_per_s"] > 0
    assert summary["server_cpu_ms_per_msg"] >= 0


@pytest.mark.slow
def test_chat_roundtrip_shortened(backend: Backend, tmp_path: Path) -> None:
    report = run_bench("chat_roundtrip", backend.name, "--messages", "4", "--concurrency", "2")
    for mode in ("channel_poll", "session_http"):
        assert_round_trips(report["results"][mode]["sequential"], 4)
        assert_round_trips(report["results"][mode]["concurrent_2"], 4)


@pytest.mark.slow
def test_http_throughput_shortened(backend: Backend, tmp_path: Path) -> None:
    assert shutil.which("wrk"), "this bench drives wrk: apt-get install wrk (.ci/run does)"
    report = run_bench("http_throughput", backend.name, "--seconds", "1",
                       "--connections", "4")
    assert set(report["req_per_s"]) == {"bare_asgi", "ping", "agents", "channel_messages"}
    assert all(rate > 0 for rate in report["req_per_s"].values())


@pytest.mark.slow
def test_density_shortened(backend: Backend, tmp_path: Path) -> None:
    report = run_bench("density", backend.name, "--agents", "3", "--messages", "3")
    assert report["many_agents"]["active_agents"] == 4
    assert report["many_agents"]["rss_mb"] > 0
    assert_round_trips(report["one_agent"]["round_trip"], 3)
    assert_round_trips(report["many_agents"]["round_trip"], 3)


@pytest.mark.postgres
def test_bench_schema_is_dropped_even_when_the_run_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELIZA_BENCH_POSTGRES_URL", admin_url())
    seen: list[str] = []

    def failing_run() -> None:
        with postgres_schema() as (name, url):
            seen.append(name)
            assert name in bench_schemas()
            assert "search_path%3D" + name in url
            raise RuntimeError("the bench failed")

    with pytest.raises(RuntimeError, match="the bench failed"):
        failing_run()
    assert seen
    assert seen[0] not in bench_schemas()
