"""Chat round trip over REST: time from posting a user message to the agent's stored reply,
against a real `hypercorn -k trio eliza.app:app` (temp data dir, rate limits off) and the
default ELIZA agent.

    python -m bench.chat_roundtrip [--messages 200] [--concurrency 8] [--poll-ms 2]
                                   [--store sqlite|postgres]

Two ways to wait for the reply, each run sequentially and then with `--concurrency` users
at once (each user in their own DM channel or session):
- `channel_poll`: POST /api/messaging/channels/:id/messages, then poll GET .../messages
  every `--poll-ms` until the reply to that message is stored;
- `session_http`: POST /api/messaging/sessions/:id/messages with `transport: "http"`, which
  answers once the reply is stored.
Prints p50/p99/mean latency (ms), sustained messages/s and the server worker's CPU per
message (user + system, read from /proc) as JSON, with the load average at the start of
each mode, and p50 against the original's 150 ms (ElizaOS 1.7.2, same machine, instant fake
model; bench/README.md, "Targets").
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import trio

from bench.server import cpu_s, loadavg, serving, worker_pid
from bench.stores import add_store_argument, store_env, store_of

ORIGINAL_P50_MS = 150.0  # ElizaOS 1.7.2, REST post -> stored reply, same machine
REPLY_DEADLINE = 30.0  # seconds; one reply taking longer fails the run
TEXTS = ("I need some help", "I feel anxious about my work", "My mother takes care of me",
         "I dreamed about flying", "Perhaps I could learn to get along with my brother")

Send = Callable[[httpx.AsyncClient, int], Awaitable[float]]


async def channel_user(http: httpx.AsyncClient, agent_id: str, poll: float) -> Send:
    """A user with a DM channel to the agent; sends and polls for the stored reply."""
    user = str(uuid.uuid4())
    channel = (await http.get("/api/messaging/dm-channel", params={
        "currentUserId": user, "targetUserId": agent_id})).json()["data"]["id"]

    async def send(client: httpx.AsyncClient, i: int) -> float:
        t0 = time.perf_counter()
        posted = (await client.post(f"/api/messaging/channels/{channel}/messages", json={
            "content": TEXTS[i % len(TEXTS)], "author_id": user,
            "message_server_id": "00000000-0000-0000-0000-000000000000"})).json()
        message_id = posted["userMessage"]["id"]
        with trio.fail_after(REPLY_DEADLINE):
            while True:
                page = (await client.get(f"/api/messaging/channels/{channel}/messages",
                                         params={"limit": 5})).json()["data"]["messages"]
                if any(m.get("inReplyToRootMessageId") == message_id for m in page):
                    return time.perf_counter() - t0
                await trio.sleep(poll)

    return send


async def session_user(http: httpx.AsyncClient, agent_id: str, poll: float) -> Send:
    """A user with a session; `transport: "http"` answers with the stored reply."""
    session = (await http.post("/api/messaging/sessions", json={
        "agentId": agent_id, "userId": str(uuid.uuid4())})).json()["sessionId"]

    async def send(client: httpx.AsyncClient, i: int) -> float:
        t0 = time.perf_counter()
        response = await client.post(f"/api/messaging/sessions/{session}/messages", json={
            "content": TEXTS[i % len(TEXTS)], "transport": "http"})
        if response.status_code != 201 or not response.json().get("agentResponse"):
            raise RuntimeError(f"no reply: {response.status_code} {response.text[:200]}")
        return time.perf_counter() - t0

    return send


def summary(latencies: list[float], wall: float, cpu: float | None = None
            ) -> dict[str, float]:
    ms = sorted(x * 1000 for x in latencies)
    out = {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "msgs_per_s": round(len(ms) / wall, 1),
    }
    if cpu is not None:
        out["server_cpu_ms_per_msg"] = round(cpu * 1000 / len(ms), 2)
    return out


async def run_mode(url: str, agent_id: str, pid: int, make: Any, args: argparse.Namespace
                   ) -> dict[str, Any]:
    load = loadavg()
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(base_url=url, timeout=REPLY_DEADLINE, limits=limits) as http:
        warm = await make(http, agent_id, args.poll_ms / 1000)
        for i in range(5):  # warm-up, not measured
            await warm(http, i)
        send = await make(http, agent_id, args.poll_ms / 1000)
        sequential: list[float] = []
        cpu0, t0 = cpu_s(pid), time.perf_counter()
        for i in range(args.messages):
            sequential.append(await send(http, i))
        seq_wall, seq_cpu = time.perf_counter() - t0, cpu_s(pid) - cpu0

        users = [await make(http, agent_id, args.poll_ms / 1000)
                 for _ in range(args.concurrency)]
        concurrent: list[float] = []
        per_user = max(1, args.messages // args.concurrency)

        async def worker(user: Send) -> None:
            for i in range(per_user):
                concurrent.append(await user(http, i))

        cpu0, t0 = cpu_s(pid), time.perf_counter()
        async with trio.open_nursery() as nursery:
            for user in users:
                nursery.start_soon(worker, user)
        conc_wall, conc_cpu = time.perf_counter() - t0, cpu_s(pid) - cpu0
    return {"loadavg": load, "sequential": summary(sequential, seq_wall, seq_cpu),
            f"concurrent_{args.concurrency}": summary(concurrent, conc_wall, conc_cpu)}


async def bench(url: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as http:
        agent_id = (await http.get("/api/agents")).json()["data"]["agents"][0]["id"]
    results = {
        "channel_poll": await run_mode(url, agent_id, pid, channel_user, args),
        "session_http": await run_mode(url, agent_id, pid, session_user, args),
    }
    return {
        "store": store_of(args), "log_level": args.log_level, "messages": args.messages,
        "concurrency": args.concurrency, "poll_ms": args.poll_ms,
        "results": results,
        "original_p50_ms": ORIGINAL_P50_MS,
        "p50_vs_original": {mode: round(r["sequential"]["p50_ms"] / ORIGINAL_P50_MS, 3)
                            for mode, r in results.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--poll-ms", type=float, default=2.0)
    # `warn` leaves out the agents' per-turn log lines: what telling each turn costs.
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warn", "error"])
    add_store_argument(parser)
    print(json.dumps(run(parser.parse_args()), indent=2))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark on a server of its own (and a store of its own); the JSON report."""
    with tempfile.TemporaryDirectory() as tmp, store_env(store_of(args)) as env:
        data_dir = Path(tmp) / ".eliza"
        with serving(data_dir, env={**env, "LOG_LEVEL": args.log_level}) as (proc, url):
            return trio.run(bench, url, worker_pid(data_dir, proc.pid), args)


if __name__ == "__main__":
    main()
