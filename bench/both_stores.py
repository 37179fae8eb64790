"""The chat round trip, REST throughput and density benchmarks on SQLite and on PostgreSQL in
one invocation, and a side-by-side markdown table (metric | SQLite | PostgreSQL | PG/SQLite).

    python -m bench.both_stores [--rounds 1] [--messages 100] [--seconds 5] [--agents 1000]
                                [--density-messages 50] [--json FILE]

Each benchmark runs as its own process (`python -m bench.<name> --store ...`), so each gets a
fresh server, data directory and, for PostgreSQL, a fresh schema (bench/stores.py). Within a
round the stores alternate which goes first (round 1: SQLite first, round 2: PostgreSQL first,
...); with several rounds each cell is the median over the rounds. The defaults take a few
minutes on two cores; raise `--rounds`, `--messages`, `--seconds` to tighten the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.server import ROOT, loadavg
from bench.stores import STORES, Store

Report = dict[str, Any]


@dataclass(frozen=True)
class Metric:
    bench: str
    label: str
    get: Callable[[Report], float]
    higher_is_better: bool = False
    digits: int = 1


def _at(*path: str) -> Callable[[Report], float]:
    def get(report: Report) -> float:
        value: Any = report
        for key in path:
            value = value[key]
        return float(value)
    return get


def metrics(concurrency: int, agents: int) -> list[Metric]:
    conc = f"concurrent_{concurrency}"
    many = f"{agents + 1:,} agents"
    chat = [
        Metric("chat_roundtrip", f"chat, {mode} {phase}: {label}",
               _at("results", mode, key, stat), higher_is_better=stat == "msgs_per_s")
        for mode in ("session_http", "channel_poll")
        for phase, key in (("sequential", "sequential"), (f"{concurrency} concurrent", conc))
        for stat, label in (("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
                            ("msgs_per_s", "messages/s"),
                            ("server_cpu_ms_per_msg", "server CPU ms per message"))
    ]
    rest = [
        Metric("http_throughput", f"REST {route} req/s", _at("req_per_s", key),
               higher_is_better=True, digits=0)
        for route, key in (("`GET /api/server/ping`", "ping"),
                           ("`GET /api/agents`", "agents"),
                           ("`GET /api/messaging/channels/:id/messages?limit=20`",
                            "channel_messages"),
                           ("bare ASGI app (no store; noise reference)", "bare_asgi"))
    ]
    density = [
        Metric("density", "density, worker RSS MB, 1 agent", _at("one_agent", "rss_mb")),
        Metric("density", f"density, worker RSS MB, {many}",
               _at("many_agents", "rss_mb")),
        Metric("density", "density, RSS per idle agent KB",
               _at("many_agents", "rss_per_agent_kb")),
        Metric("density", f"density, create + start {agents:,} agents s",
               _at("create_and_start_s")),
        Metric("density", "density, round trip p50 ms, 1 agent",
               _at("one_agent", "round_trip", "p50_ms")),
        Metric("density", "density, round trip p99 ms, 1 agent",
               _at("one_agent", "round_trip", "p99_ms")),
        Metric("density", f"density, round trip p50 ms, {many}",
               _at("many_agents", "round_trip", "p50_ms")),
        Metric("density", f"density, round trip p99 ms, {many}",
               _at("many_agents", "round_trip", "p99_ms")),
        Metric("density", f"density, server CPU ms per message, {many}",
               _at("many_agents", "round_trip", "server_cpu_ms_per_msg")),
    ]
    return chat + rest + density


def bench_argv(name: str, store: Store, args: argparse.Namespace) -> list[str]:
    extra = {
        "chat_roundtrip": ["--messages", str(args.messages),
                           "--concurrency", str(args.concurrency),
                           "--poll-ms", str(args.poll_ms)],
        "http_throughput": ["--seconds", str(args.seconds),
                            "--connections", str(args.connections)],
        "density": ["--agents", str(args.agents), "--messages", str(args.density_messages)],
    }[name]
    return [sys.executable, "-m", f"bench.{name}", "--store", store, *extra]


def run_bench(name: str, store: Store, args: argparse.Namespace) -> Report:
    argv = bench_argv(name, store, args)
    print(f"[{time.strftime('%H:%M:%S')}] load {loadavg()}: {' '.join(argv[1:])}",
          file=sys.stderr, flush=True)
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[1:])} failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    report: Report = json.loads(done.stdout)
    if report.get("store") != store:
        raise SystemExit(f"{name} reported store {report.get('store')!r}, not {store!r}")
    return report


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every bench on every store, `args.rounds` times: {"runs": {bench: {store: [report,
    ...]}}, "loadavg": [...]}."""
    runs: dict[str, dict[str, list[Report]]] = {
        name: {store: [] for store in STORES} for name in args.benches}
    loads = [loadavg()]
    for round_no in range(args.rounds):
        order = STORES if round_no % 2 == 0 else tuple(reversed(STORES))
        for name in args.benches:
            for store in order:
                runs[name][store].append(run_bench(name, store, args))
                loads.append(loadavg())
    return {"runs": runs, "loadavg": loads}


def fmt(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def table(results: dict[str, Any], concurrency: int, agents: int) -> str:
    """The side-by-side markdown table (medians over rounds)."""
    lines = ["| metric | SQLite | PostgreSQL | PG/SQLite | within 1.5x |",
             "| --- | ---: | ---: | ---: | :---: |"]
    for metric in metrics(concurrency, agents):
        reports = results["runs"].get(metric.bench)
        if not reports:
            continue
        try:
            lite = statistics.median(metric.get(r) for r in reports["sqlite"])
            pg = statistics.median(metric.get(r) for r in reports["postgres"])
        except KeyError:
            continue
        ratio = pg / lite if lite else float("nan")
        # "within 1.5x": PostgreSQL no more than 1.5x worse, whichever way is worse.
        worse = 1 / ratio if metric.higher_is_better and ratio else ratio
        within = "yes" if worse <= 1.5 else "**no**"
        if metric.label.startswith("density, RSS") or "bare ASGI" in metric.label:
            within = "-"
        lines.append(f"| {metric.label} | {fmt(lite, metric.digits)} | "
                     f"{fmt(pg, metric.digits)} | {ratio:.2f} | {within} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--benches", nargs="+", default=["chat_roundtrip", "http_throughput",
                                                        "density"],
                        choices=["chat_roundtrip", "http_throughput", "density"])
    parser.add_argument("--messages", type=int, default=100, help="chat_roundtrip")
    parser.add_argument("--concurrency", type=int, default=8, help="chat_roundtrip")
    parser.add_argument("--poll-ms", type=float, default=2.0, help="chat_roundtrip")
    parser.add_argument("--seconds", type=int, default=5, help="http_throughput, per route")
    parser.add_argument("--connections", type=int, default=32, help="http_throughput")
    parser.add_argument("--agents", type=int, default=1000, help="density")
    parser.add_argument("--density-messages", type=int, default=50, help="density")
    parser.add_argument("--json", type=Path, help="also write every report to this file")
    args = parser.parse_args()
    started = time.time()
    results = run_all(args)
    results["args"] = vars(args) | {"json": str(args.json) if args.json else None}
    results["wall_s"] = round(time.time() - started, 1)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(table(results, args.concurrency, args.agents))
    print(f"\n{args.rounds} round(s), {results['wall_s']} s; load average "
          f"{results['loadavg'][0]} at the start, {results['loadavg'][-1]} at the end")


if __name__ == "__main__":
    main()
