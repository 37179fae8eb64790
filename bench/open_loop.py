"""Open-loop load: clients post to the default agent's DM without waiting for answers, for a
while, optionally with the server's worker SIGKILLed part-way and the server restarted; then
every acknowledged message must be stored once and answered exactly once.

    python -m bench.open_loop [--clients 50] [--seconds 60] [--kill-at 20]

The suite runs the same check shortened (tests/runtime/test_open_loop.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio

from .server import start_server, worker_pid

ANSWER_WAIT = 180.0  # seconds for the agent to answer the backlog after the load


@dataclass
class LoadResult:
    acknowledged: list[str] = field(default_factory=list)
    refused: int = 0  # posts the server did not acknowledge (cut off by the kill)
    seconds: float = 0.0


@dataclass
class Target:
    """Where the clients post; a restart moves the server to another port."""

    url: str


async def post_open_loop(target: Target, channel_id: str, user: str, *, clients: int,
                         seconds: float) -> LoadResult:
    """`clients` tasks post as fast as the server acknowledges, for `seconds`; a post the
    server cannot take (it is down) is counted as refused and retried shortly after."""
    result = LoadResult()
    started = trio.current_time()

    async def client(n: int, http: httpx.AsyncClient) -> None:
        i = 0
        while trio.current_time() - started < seconds:
            i += 1
            try:
                response = await http.post(
                    f"{target.url}/api/messaging/channels/{channel_id}/messages",
                    json={"author_id": user, "content": f"client {n} says {i}",
                          "idempotency_key": f"{n}-{i}"})
            except httpx.HTTPError:
                result.refused += 1
                await trio.sleep(0.05)
                continue
            if response.status_code == 201:
                result.acknowledged.append(response.json()["userMessage"]["id"])
            else:
                result.refused += 1

    async with httpx.AsyncClient(timeout=10) as http, trio.open_nursery() as nursery:
        for n in range(clients):
            nursery.start_soon(client, n, http)
    result.seconds = trio.current_time() - started
    return result


def listing(url: str, channel_id: str) -> list[dict[str, Any]]:
    """Every message of the channel, oldest first, in pages of 1,000 (newest first). A page
    boundary can split messages of the same millisecond, so each next page starts at the
    boundary's millisecond again (`before` is exclusive) and repeats are dropped."""
    seen: dict[str, dict[str, Any]] = {}
    before: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if before is not None:
            params["before"] = before
        page = httpx.get(f"{url}/api/messaging/channels/{channel_id}/messages",
                         params=params, timeout=30).json()["data"]["messages"]
        new = [m for m in page if m["id"] not in seen]
        seen.update((m["id"], m) for m in new)
        if len(page) < 1000 or not new:
            return list(reversed(seen.values()))  # pages came newest first
        before = page[-1]["created_at"] + 1


@dataclass(frozen=True)
class Verdict:
    acknowledged: int
    stored_once: bool
    answered_once: bool
    in_order: bool
    unanswered: int
    duplicates: int


def check(url: str, channel_id: str, acknowledged: list[str], *, within: float) -> Verdict:
    """Wait (up to `within` s) until every acknowledged message is answered; judge."""
    deadline = time.monotonic() + within
    while True:
        messages = listing(url, channel_id)
        replied = [m["inReplyToRootMessageId"] for m in messages
                   if m["sourceType"] == "agent_response"]
        if set(acknowledged) <= set(replied) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    users = [m["id"] for m in messages if m["sourceType"] != "agent_response"]
    counts = Counter(replied)
    stored = Counter(users)
    # A post the kill cut off after its commit is stored (and answered) but was never
    # acknowledged: it may be there; an acknowledged one must be, once.
    return Verdict(
        acknowledged=len(acknowledged),
        stored_once=all(stored[m] == 1 for m in acknowledged),
        answered_once=all(counts[m] == 1 for m in acknowledged) and set(counts) <= set(users)
        and all(n == 1 for n in counts.values()),
        in_order=[m for m in replied if m in set(acknowledged)] == [
            m for m in users if m in set(acknowledged)],
        unanswered=sum(1 for m in acknowledged if counts[m] == 0),
        duplicates=sum(n - 1 for n in counts.values() if n > 1),
    )


def dm_with_default_agent(url: str, user: str) -> str:
    agents = httpx.get(f"{url}/api/agents", timeout=10).json()["data"]["agents"]
    agent_id = agents[0]["id"]
    channel = httpx.post(f"{url}/api/messaging/channels", timeout=10, json={
        "name": "open loop", "type": "DM", "participantCentralUserIds": [user, agent_id],
        "message_server_id": "00000000-0000-0000-0000-000000000000"}).json()["data"]
    return str(channel["id"])


def kill_worker(proc: subprocess.Popen[bytes], data_dir: Path) -> None:
    """SIGKILL the worker (a crash, no cleanup); hypercorn's master then exits too."""
    os.kill(worker_pid(data_dir, proc.pid), signal.SIGKILL)
    proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kill-at", type=float, default=None,
                        help="SIGKILL the worker this many seconds in, then restart")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / ".eliza"
        proc, url = start_server(data_dir)
        user = str(uuid.uuid4())
        channel_id = dm_with_default_agent(url, user)
        try:
            result = trio.run(_load_with_kill, proc, data_dir, url, channel_id, user, args)
            proc, url = result[1]
            verdict = check(url, channel_id, result[0].acknowledged, within=ANSWER_WAIT)
        finally:
            proc.terminate()
            proc.wait(30)
    load = result[0]
    print(f"{args.clients} clients x {load.seconds:.0f} s"
          f"{f', worker SIGKILLed at {args.kill_at:.0f} s' if args.kill_at else ''}: "
          f"{verdict.acknowledged} acknowledged ({verdict.acknowledged / load.seconds:.0f}/s), "
          f"{load.refused} refused; stored once: {verdict.stored_once}; answered once: "
          f"{verdict.answered_once}; in order: {verdict.in_order}; unanswered: "
          f"{verdict.unanswered}; duplicates: {verdict.duplicates}")


async def _load_with_kill(proc: subprocess.Popen[bytes], data_dir: Path, url: str,
                          channel_id: str, user: str, args: argparse.Namespace
                          ) -> tuple[LoadResult, tuple[subprocess.Popen[bytes], str]]:
    """The load, with the worker killed at `--kill-at` and the server restarted on the same
    data directory (the clients follow it to its new port)."""
    target = Target(url)
    running = [proc]

    async def killer() -> None:
        await trio.sleep(args.kill_at)
        await trio.to_thread.run_sync(kill_worker, proc, data_dir)
        restarted, target.url = await trio.to_thread.run_sync(start_server, data_dir)
        running.append(restarted)

    async with trio.open_nursery() as nursery:
        if args.kill_at is not None:
            nursery.start_soon(killer)
        load = await post_open_loop(target, channel_id, user, clients=args.clients,
                                    seconds=args.seconds)
    return load, (running[-1], target.url)


if __name__ == "__main__":
    main()
