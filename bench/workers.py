"""Several workers against one, and against the original server, in one run.

    python -m bench.workers [--seconds 10] [--connections 32] [--workers 2]
                            [--bus postgres|redis] [--messages 100] [--concurrency 8]
                            [--clients 1000] [--fanout-messages 30]
                            [--targets original,eliza_1,eliza_2] [--phases rest,chat,fanout]

Three servers, one after the other (so they never share the two cores):
- `original`: ElizaOS 1.7.2 under node with an instant fake model, on PGLite (bench/original);
- `eliza_1`: one worker on PostgreSQL (a fresh schema) with the in-process bus;
- `eliza_N`: `eliza serve --workers N` (`--workers`, default 2) on PostgreSQL (a fresh
  schema) with a shared bus (`ELIZA_BUS` = `--bus`, default postgres).
Every one with its rate limits off. For each:
- `rest`: wrk on `GET /api/server/ping`, `GET /api/agents` and `POST` of a message to a
  GROUP channel without agents (a wrk lua script): req/s, p50/p99, and eliza/original;
- `chat`: post -> stored reply (bench/chat_roundtrip.py's `channel_poll` and `session_http`
  users), one message at a time, then `--concurrency` users at once, on keep-alive
  connections picked so that as many land on each worker: latencies overall and by the
  worker the post landed on, with each worker's CPU (the agent's worker does every turn; a
  post landing elsewhere goes to it over the bus, and its reply comes back the same way);
- `fanout`: `--clients` Socket.IO clients in one channel (bench/fanout.py's light clients),
  how they spread over the workers, and the latency of each broadcast to all of them.
Which worker holds a connection is read from /proc (the worker process with the server side
of that TCP connection among its file descriptors): Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import trio

from bench.chat_roundtrip import Send, channel_user, session_user, summary
from bench.connections import Connection, SocketOwners, balanced_connections
from bench.fanout import DEFAULT_SERVER_ID, run_light_bench
from bench.original import OriginalUnavailable, serving_original
from bench.server import ROOT, cpu_s, free_port, loadavg, stop
from bench.stores import postgres_schema
from eliza.testing.live import child_pids

STARTUP = 60.0  # seconds
ROUTES = ("ping", "agents", "post")


class BenchFailure(RuntimeError):
    """A server did not start, or a measurement went wrong (errors under load): reported
    in the JSON, and the run goes on with the rest."""


@dataclass
class Target:
    name: str
    url: str
    root_pid: int
    workers: list[int]  # the processes serving (the root itself for one process)
    agent_id: str
    database_url: str | None = None  # eliza's schema, where the leases say who runs the agent

    def cpu(self) -> float:
        pids = {self.root_pid, *self.workers}
        return sum(cpu_s(pid) for pid in pids if Path(f"/proc/{pid}").exists())

    def agent_worker(self) -> int | None:
        """The pid of the worker running the agent (None: cannot tell)."""
        if len(self.workers) == 1:
            return self.workers[0]
        if self.database_url is None:
            return None
        try:
            with psycopg.connect(self.database_url, connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT w.pid FROM leases l JOIN workers w ON w.id = l.holder"
                    " WHERE l.name = %s AND l.released = 0", (f"agent:{self.agent_id}",)
                ).fetchone()
        except psycopg.Error:
            return None  # a tree without the workers table
        return int(row[0]) if row and int(row[0]) in self.workers else None


# -- starting the servers ----------------------------------------------------------------


@contextmanager
def serving_eliza(name: str, work_dir: Path, workers: int, bus: str) -> Iterator[Target]:
    """`eliza serve --workers <workers>` on a fresh PostgreSQL schema and `bus`: one worker
    serves in the process itself, several are its children."""
    port = free_port()
    command = [sys.executable, "-m", "eliza.cli", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]
    with postgres_schema() as (_schema, database_url):
        data_dir = work_dir / name / ".eliza"
        data_dir.mkdir(parents=True)
        env = {**os.environ, "ELIZA_DATA_DIR": str(data_dir), "ELIZA_RATE_LIMIT": "off",
               "PYTHONPATH": str(ROOT), "POSTGRES_URL": database_url, "DATABASE_URL": "",
               "ELIZA_BUS": bus, "ELIZA_WORKERS": str(workers)}
        log_path = data_dir.parent / "server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            yield wait_until_serving(Target(name, url, proc.pid, [], "", database_url),
                                     proc, workers, log_path)
        finally:
            stop(proc)


def wait_until_serving(target: Target, proc: subprocess.Popen[bytes], workers: int,
                       log_path: Path) -> Target:
    """`target` once its `workers` processes are up, every one answers ping (new
    connections land on any of them) and the agent runs somewhere."""
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchFailure(f"the server exited ({proc.returncode}):\n{tail(log_path)}")
        target.workers = [proc.pid] if workers == 1 else child_pids(proc.pid)
        try:
            pings = {httpx.get(target.url + "/api/server/ping", timeout=1).status_code
                     for _ in range(4 * workers)}
            agents = httpx.get(target.url + "/api/agents", timeout=2).json()["data"]["agents"]
            if len(target.workers) == workers and pings == {200} and agents and (
                    agents[0]["status"] == "active") and agents[0].get("worker", "") is not None:
                target.agent_id = str(agents[0]["id"])
                return target
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.2)
    raise BenchFailure(f"{target.name} did not serve its agent within {STARTUP:.0f} s:\n"
                     f"{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# -- REST throughput ---------------------------------------------------------------------

POST_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
"""
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk_run(url: str, seconds: int, connections: int, script: Path | None = None
            ) -> dict[str, float]:
    """req/s and latency percentiles (ms) of one wrk run; any error status fails the run."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise BenchFailure(f"cannot read wrk output:\n{out}")
    if "Non-2xx or 3xx responses" in out:
        raise BenchFailure(f"{url} answered errors under load:\n{out}")
    result: dict[str, float] = {"req_per_s": round(float(rate.group(1)))}
    for pct in ("50", "99"):
        found = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
        if found:
            result[f"p{pct}_ms"] = round(float(found.group(1)) * UNITS[found.group(2)], 2)
    timeouts = re.search(r"timeout (\d+)", out)
    result["timeouts"] = int(timeouts.group(1)) if timeouts else 0
    return result


def group_channel(url: str) -> tuple[str, str]:
    """A GROUP channel of two users and no agent (nobody answers what wrk posts): (its id,
    one of the users). The original refuses a post to a channel where nobody but its author
    takes part (after storing it), hence the second user."""
    author = str(uuid.uuid4())
    response = httpx.post(url + "/api/messaging/channels", timeout=30, json={
        "name": "wrk posts", "message_server_id": DEFAULT_SERVER_ID,
        "participantCentralUserIds": [author, str(uuid.uuid4())], "type": "GROUP",
        "metadata": {}})
    response.raise_for_status()
    return str(response.json()["data"]["id"]), author


def rest(target: Target, args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    channel, author = group_channel(target.url)
    script = work_dir / f"{target.name}-post.lua"
    body = json.dumps({"author_id": author, "content": "a message posted by wrk",
                       "message_server_id": DEFAULT_SERVER_ID})
    script.write_text(POST_SCRIPT.format(body=json.dumps(body)))
    urls = {"ping": (target.url + "/api/server/ping", None),
            "agents": (target.url + "/api/agents", None),
            "post": (f"{target.url}/api/messaging/channels/{channel}/messages", script)}
    out: dict[str, Any] = {"loadavg_before": loadavg()}
    for route, (url, lua) in urls.items():
        wrk_run(url, 1, args.connections, lua)  # warm-up: connections, caches, node's JIT
        cpu0 = target.cpu()
        out[route] = wrk_run(url, args.seconds, args.connections, lua)
        out[route]["server_cpu_s"] = round(target.cpu() - cpu0, 2)
    out["loadavg_after"] = loadavg()
    return out


# -- chat round trip ---------------------------------------------------------------------


Lane = tuple[Send, list[Connection]]  # a user, and the connections its messages take in turn


async def chat_phase(lanes: list[Lane], per_lane: int, owners: SocketOwners,
                     target: Target) -> dict[str, Any]:
    """Every lane at once, each sending `per_lane` messages one after another: latencies
    overall and by the worker each post landed on, with each worker's CPU meanwhile (the
    agent's worker does the turns, wherever the posts land)."""
    landed: dict[str, list[float]] = {}

    async def run_lane(user: Send, conns: list[Connection]) -> None:
        for i in range(per_lane):
            conn = conns[i % len(conns)]
            latency = await user(conn.http, i)
            # Looked up once the reply is in, so outside the measured time.
            pid = owners.owner(conn.port) if conn.port else None
            landed.setdefault(str(pid or "unknown"), []).append(latency)

    cpu0 = {pid: cpu_s(pid) for pid in target.workers}
    total0, t0 = target.cpu(), time.perf_counter()
    async with trio.open_nursery() as nursery:
        for user, conns in lanes:
            nursery.start_soon(run_lane, user, conns)
    wall, cpu = time.perf_counter() - t0, target.cpu() - total0
    out: dict[str, Any] = dict(summary([x for v in landed.values() for x in v], wall, cpu))
    out["by_worker_pid"] = {
        str(pid): {"cpu_s": round(cpu_s(pid) - cpu0[pid], 2),
                   **(summary(landed[str(pid)], wall) if str(pid) in landed else {"n": 0})}
        for pid in target.workers}
    if "unknown" in landed:
        out["by_worker_pid"]["unknown"] = summary(landed["unknown"], wall)
    return out


async def chat_mode(target: Target, make: Any, args: argparse.Namespace) -> dict[str, Any]:
    owners = SocketOwners(target.url, target.workers)
    poll = args.poll_ms / 1000
    # The kernel hands each new connection to one of the workers: the posts go out on
    # connections chosen to land on every worker alike.
    conns = await balanced_connections(
        target.url, target.workers, max(4 * len(target.workers), args.concurrency), owners)
    load = loadavg()
    try:
        setup = conns[0].http
        warm = await make(setup, target.agent_id, poll)
        for i in range(5):  # warm-up, not measured
            await warm(conns[i % len(conns)].http, i)
        sequential = await chat_phase([(await make(setup, target.agent_id, poll), conns)],
                                      args.messages, owners, target)
        lanes = [(await make(setup, target.agent_id, poll), [conn])
                 for conn in conns[:args.concurrency]]
        concurrent = await chat_phase(lanes, max(1, args.messages // args.concurrency),
                                      owners, target)
    finally:
        for conn in conns:
            await conn.http.aclose()
    return {"loadavg": load, "agent_worker_pid": target.agent_worker(),
            "sequential": sequential,
            f"concurrent_{args.concurrency}": concurrent}


async def chat(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    return {"channel_poll": await chat_mode(target, channel_user, args),
            "session_http": await chat_mode(target, session_user, args)}


# -- fan-out -----------------------------------------------------------------------------


def fanout(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    """bench/fanout.py's light clients against the target; how their connections spread
    over the workers is read once they are all connected, before the measured messages."""
    owners = SocketOwners(target.url, target.workers)
    spread: dict[str, int] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            if len(owners.connections()) >= args.clients:
                spread.update(owners.spread())
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = run_light_bench(target.url, args.clients, args.fanout_messages,
                                 args.interval, args.client_procs, target.root_pid)
    finally:
        done.set()
        watcher.join()
    # The poster's own connection is one of them.
    result["connections_by_worker_pid"] = spread
    return result


# -- the run -----------------------------------------------------------------------------


def measure(target: Target, phases: list[str], args: argparse.Namespace, work_dir: Path
            ) -> dict[str, Any]:
    out: dict[str, Any] = {"url": target.url, "worker_pids": target.workers}
    for phase in phases:
        print(f"{target.name}: {phase} (load average {loadavg()})", file=sys.stderr)
        # A phase that fails is reported as such and the run goes on (the exit status says
        # so at the end): the other figures of the same run are still worth having.
        try:
            if phase == "rest":
                out["rest"] = rest(target, args, work_dir)
            elif phase == "chat":
                out["chat"] = trio.run(chat, target, args)
            elif phase == "fanout":
                out["fanout"] = fanout(target, args)
        except Exception as exc:  # reported in the JSON and the exit status
            out[phase] = {"error": f"{type(exc).__name__}: {exc or 'no reply in time'}"}
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    many = f"eliza_{args.workers}"
    targets = args.targets.split(",") if args.targets else ["original", "eliza_1", many]
    phases = args.phases.split(",")
    report: dict[str, Any] = {
        "seconds": args.seconds, "connections": args.connections, "bus": args.bus,
        "cpus": os.cpu_count(), "loadavg_start": loadavg(),
        "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work_dir = Path(tmp)
        for name in targets:
            with ExitStack() as stack:
                if name == "original":
                    try:
                        original = stack.enter_context(serving_original(work_dir / name))
                    except OriginalUnavailable as exc:
                        report["results"][name] = {"unavailable": str(exc)}
                        continue
                    target = Target(name, original.url, original.proc.pid,
                                    [original.proc.pid], original.agent_id)
                    # Not the fan-out: the original refuses bench/fanout.py's posts (to a
                    # channel where only their author takes part).
                    report["results"][name] = measure(
                        target, [p for p in phases if p != "fanout"], args, work_dir)
                    continue
                workers = 1 if name == "eliza_1" else args.workers
                bus = "memory" if workers == 1 else args.bus
                try:
                    target = stack.enter_context(serving_eliza(name, work_dir, workers, bus))
                except BenchFailure as exc:
                    report["results"][name] = {"unavailable": str(exc)}
                    continue
                report["results"][name] = {"workers": workers, "bus": bus,
                                           **measure(target, phases, args, work_dir)}
    report["loadavg_end"] = loadavg()
    report["ratios"] = ratios(report["results"], many)
    return report


def ratios(results: dict[str, Any], many: str) -> dict[str, Any]:
    """REST req/s of eliza over the original's, and the N-worker figures over 1 worker's."""
    out: dict[str, Any] = {}
    original = results.get("original", {}).get("rest")
    for name in ("eliza_1", many):
        mine = results.get(name, {}).get("rest")
        if mine and original:
            out[f"{name}_vs_original"] = {
                route: round(mine[route]["req_per_s"] / original[route]["req_per_s"], 2)
                for route in ROUTES}
    one, several = results.get("eliza_1", {}), results.get(many, {})
    if one.get("rest") and several.get("rest"):
        out[f"{many}_vs_eliza_1_rest"] = {
            route: round(several["rest"][route]["req_per_s"]
                         / one["rest"][route]["req_per_s"], 2) for route in ROUTES}
    if original and several.get("rest"):
        out["target_ping_with_workers_at_least_original"] = (
            several["rest"]["ping"]["req_per_s"] >= original["ping"]["req_per_s"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bus", choices=("postgres", "redis"), default="postgres")
    parser.add_argument("--messages", type=int, default=100, help="chat messages per phase")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--poll-ms", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=1000, help="fan-out sockets")
    parser.add_argument("--fanout-messages", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.1, help="between broadcasts")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--targets", help="comma-separated (default: all three)")
    parser.add_argument("--phases", default="rest,chat,fanout")
    args = parser.parse_args()
    # 1,000 sockets in the server and as many in the clients: more than the default soft
    # limit of 1,024 descriptors, which the servers started here inherit.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    report = run(args)
    print(json.dumps(report, indent=2))
    failed = [f"{name} {phase}" for name, result in report["results"].items()
              for phase, value in result.items()
              if phase == "unavailable" or (isinstance(value, dict) and "error" in value)]
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
