"""Density: memory of many idle agents (and optionally idle sockets) in one server process,
and what they cost the chat round trip, against a real `hypercorn -k trio eliza.app:app`
(temp data dir, rate limits off).

    python -m bench.density [--agents 1000] [--messages 100] [--sockets 0]
                            [--store sqlite|postgres]

1. Start the server (with its default ELIZA agent) and wait until it is idle; read the
   worker's RSS (hypercorn forks one worker process; its pid is in the data dir's
   `server.lock`). Measure the chat round trip with that one agent: a session send with
   `transport: "http"` (answers once the reply is stored), `--messages` one after another
   after 5 warm-up messages; also the server's CPU per message.
2. Create and start `--agents` more agents through the REST API (characters with no
   plugins), wait until idle, read RSS again and measure the same round trip with all of
   them running.
3. With `--sockets N`, hold N idle Socket.IO connections (Engine.IO v4 over websocket, each
   CONNECTed with its own entityId) from `--socket-procs` client processes (each opening
   `--connect-parallel` at a time), wait until idle and read RSS.
Prints JSON. RSS is VmRSS from /proc/<pid>/status (no psutil).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from bench.chat_roundtrip import session_user, summary
from bench.server import ROOT, cpu_s, loadavg, rss_mb, serving, worker_pid
from bench.stores import add_store_argument, store_env, store_of

IDLE_CPU = 0.02  # seconds of server CPU per second below which the server counts as idle


# -- the server process ----------------------------------------------------------------------


async def wait_idle(pid: int, *, within: float = 120.0) -> float:
    """Wait until the server uses under IDLE_CPU s/s over one second; returns the wait."""
    t0 = time.perf_counter()
    with trio.fail_after(within):
        while True:
            before = cpu_s(pid)
            await trio.sleep(1.0)
            if cpu_s(pid) - before < IDLE_CPU:
                return round(time.perf_counter() - t0, 1)


# -- agents and chat -----------------------------------------------------------------------


async def create_agents(http: httpx.AsyncClient, count: int, concurrency: int) -> float:
    """Create and start `count` agents with no plugins; returns the seconds it took."""
    t0 = time.perf_counter()
    send, receive = trio.open_memory_channel[int](count)
    for i in range(count):
        send.send_nowait(i)
    send.close()

    async def worker() -> None:
        async for i in receive:
            character = {"name": f"Idle{i:05d}", "bio": [f"Idle agent number {i}."],
                         "plugins": [], "settings": {}}
            created = await http.post("/api/agents", json={"characterJson": character})
            created.raise_for_status()
            agent_id = created.json()["data"]["id"]
            (await http.post(f"/api/agents/{agent_id}/start")).raise_for_status()

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    return round(time.perf_counter() - t0, 1)


async def round_trips(http: httpx.AsyncClient, agent_id: str, pid: int, messages: int
                      ) -> dict[str, Any]:
    send = await session_user(http, agent_id, 0.0)
    for i in range(5):  # warm-up, not measured
        await send(http, i)
    latencies: list[float] = []
    cpu0, t0 = cpu_s(pid), time.perf_counter()
    for i in range(messages):
        latencies.append(await send(http, i))
    wall = time.perf_counter() - t0
    out: dict[str, Any] = summary(latencies, wall)
    out["server_cpu_ms_per_msg"] = round((cpu_s(pid) - cpu0) * 1000 / messages, 2)
    return out


# -- idle sockets ----------------------------------------------------------------------------


async def hold_sockets(url: str, count: int, parallel: int) -> None:
    """Client process: connect `count` raw Socket.IO clients, print `ready`, hold them (each
    answers pings) until stdin closes."""
    from bench.fanout import open_raw_client

    ready = 0
    failed = 0
    settled = trio.Event()
    gate = trio.Semaphore(parallel)

    def settle() -> None:
        if ready + failed >= count:
            settled.set()

    async def one() -> None:
        nonlocal ready, failed
        connected = False
        await gate.acquire()
        try:
            async with open_raw_client(url) as client:
                gate.release()
                connected = True
                ready += 1
                settle()
                while True:
                    await client.next_event()
        except Exception:
            if not connected:
                failed += 1
                settle()
        finally:
            if not connected:
                gate.release()

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(one)
        await settled.wait()
        print(json.dumps({"ready": ready, "failed": failed}), flush=True)
        await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
        nursery.cancel_scope.cancel()


def open_socket_holders(url: str, total: int, procs: int, parallel: int
                        ) -> list[subprocess.Popen[str]]:
    per = -(-total // procs)
    holders = []
    for p in range(procs):
        count = min(per, total - p * per)
        if count <= 0:
            break
        holders.append(subprocess.Popen(
            [sys.executable, "-m", "bench.density", "--hold", url, "--count", str(count),
             "--connect-parallel", str(parallel)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    return holders


# -- the benchmark ---------------------------------------------------------------------------


async def bench(url: str, pid: int, parent: int, args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"store": store_of(args), "agents": args.agents,
                              "messages": args.messages, "worker_pid_is_child": pid != parent}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        agents = (await http.get("/api/agents")).json()["data"]["agents"]
        default_id = agents[0]["id"]
        await wait_idle(pid)
        report["one_agent"] = {"rss_mb": rss_mb(pid), "hypercorn_parent_rss_mb": rss_mb(parent),
                               "loadavg": loadavg()}
        report["one_agent"]["round_trip"] = await round_trips(http, default_id, pid,
                                                              args.messages)
        if args.agents:
            report["create_and_start_s"] = await create_agents(http, args.agents,
                                                               args.concurrency)
            report["idle_wait_s"] = await wait_idle(pid)
            running = (await http.get("/api/agents")).json()["data"]["agents"]
            active = sum(1 for a in running if a.get("status") == "active")
            rss = rss_mb(pid)
            report["many_agents"] = {
                "active_agents": active, "rss_mb": rss,
                "rss_per_agent_kb": round((rss - report["one_agent"]["rss_mb"]) * 1024
                                          / args.agents, 1),
                "loadavg": loadavg(),
            }
            report["many_agents"]["round_trip"] = await round_trips(http, default_id, pid,
                                                                    args.messages)
            await wait_idle(pid)
            report["many_agents"]["rss_after_chat_mb"] = rss_mb(pid)
    if args.sockets:
        before = rss_mb(pid)
        t0 = time.perf_counter()
        holders = open_socket_holders(url, args.sockets, args.socket_procs,
                                      args.connect_parallel)
        try:
            counts = [json.loads(await trio.to_thread.run_sync(h.stdout.readline))  # type: ignore[union-attr]
                      for h in holders]
            connect_s = round(time.perf_counter() - t0, 1)
            await wait_idle(pid)
            rss = rss_mb(pid)
            report["sockets"] = {
                "requested": args.sockets, "held": sum(c["ready"] for c in counts),
                "failed": sum(c["failed"] for c in counts), "connect_s": connect_s,
                "rss_before_mb": before, "rss_mb": rss,
                "rss_per_socket_kb": round((rss - before) * 1024
                                           / max(1, sum(c["ready"] for c in counts)), 1),
                "loadavg": loadavg(),
            }
            await trio.sleep(args.hold_s)  # through a few ping intervals
            report["sockets"]["rss_after_hold_mb"] = rss_mb(pid)
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                stats = await http.get("/api/server/ping")
                report["sockets"]["ping_status"] = stats.status_code
        finally:
            for h in holders:
                assert h.stdin is not None
                h.stdin.close()
            for h in holders:
                try:
                    h.wait(30)
                except subprocess.TimeoutExpired:
                    h.kill()
    report["loadavg_end"] = loadavg()
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sockets", type=int, default=0)
    parser.add_argument("--socket-procs", type=int, default=4)
    parser.add_argument("--hold-s", type=float, default=30.0)
    parser.add_argument("--connect-parallel", type=int, default=25,
                        help="connections being opened at once, per client process")
    parser.add_argument("--hold", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    add_store_argument(parser)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, args.sockets + 4096, (args.count or 0) + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # children inherit it
    if args.hold:
        trio.run(hold_sockets, args.hold, args.count, args.connect_parallel)
        return
    print(json.dumps(run(args), indent=2))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark on a server of its own (and a store of its own); the JSON report."""
    with tempfile.TemporaryDirectory() as tmp, store_env(store_of(args)) as env:
        data_dir = Path(tmp) / ".eliza"
        with serving(data_dir, env=env) as (proc, url):
            pid = worker_pid(data_dir, proc.pid)
            return trio.run(bench, url, pid, proc.pid, args)


if __name__ == "__main__":
    main()
