"""REST throughput: eliza's `GET /api/server/ping` and `GET /api/agents` against a bare ASGI
app on the same stack (hypercorn's trio worker), with wrk, in one run; and a route that reads
the store, `GET /api/messaging/channels/:id/messages?limit=20` (a DM with the default agent,
seeded with 10 messages and their replies).

    python -m bench.http_throughput [--seconds 10] [--connections 32] [--store sqlite|postgres]

Needs `wrk` (Debian: apt-get install wrk). Prints req/s and the ratios the targets name
(bench/README.md, "Targets"): ping >= 80% of bare ASGI, and /api/agents compared with the
original's 680 req/s (at least 2x). Ping and /api/agents are answered from memory (the ASGI
fast path, eliza/fastpath.py), so only `channel_messages` depends on the store.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.server import start_server
from bench.stores import add_store_argument, store_env, store_of

ORIGINAL_AGENTS_RPS = 680.0  # ElizaOS 1.7.2 under node on this machine
SEED_MESSAGES = 10


def wrk(url: str, seconds: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True, text=True, check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise SystemExit(f"cannot read wrk output:\n{out}")
    if re.search(r"Non-2xx or 3xx responses", out):
        raise SystemExit(f"{url} answered errors under load:\n{out}")
    return float(match.group(1))


def seeded_channel(url: str) -> str:
    """A DM channel with the default agent holding SEED_MESSAGES messages and their replies;
    returns the path that lists them."""
    with httpx.Client(base_url=url, timeout=30) as http:
        agent_id = http.get("/api/agents").json()["data"]["agents"][0]["id"]
        user = str(uuid.uuid4())
        channel = http.get("/api/messaging/dm-channel", params={
            "currentUserId": user, "targetUserId": agent_id}).json()["data"]["id"]
        path = f"/api/messaging/channels/{channel}/messages"
        for i in range(SEED_MESSAGES):
            http.post(path, json={
                "content": f"seed message {i}", "author_id": user,
                "message_server_id": "00000000-0000-0000-0000-000000000000",
            }).raise_for_status()
        deadline = time.monotonic() + 30
        while len(http.get(path, params={"limit": 50}).json()["data"]["messages"]) \
                < 2 * SEED_MESSAGES:
            if time.monotonic() > deadline:
                raise SystemExit("the agent did not answer the seed messages within 30 s")
            time.sleep(0.1)
    return f"{path}?limit=20"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Bare ASGI, then eliza on its own store; the JSON report."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, store_env(store_of(args)) as env:
        data_dir = Path(tmp) / ".eliza"
        bare, bare_url = start_server(data_dir, app="bench.bare_asgi:app",
                                      wait_for_agent=False)
        try:
            results["bare_asgi"] = wrk(bare_url + "/", args.seconds, args.connections)
        finally:
            bare.terminate()
            bare.wait()
        eliza, url = start_server(data_dir, env=env)
        try:
            listing = seeded_channel(url)
            results["ping"] = wrk(url + "/api/server/ping", args.seconds, args.connections)
            results["agents"] = wrk(url + "/api/agents", args.seconds, args.connections)
            results["channel_messages"] = wrk(url + listing, args.seconds, args.connections)
        finally:
            eliza.terminate()
            eliza.wait()
    return {
        "store": store_of(args),
        "req_per_s": {k: round(v) for k, v in results.items()},
        "ping_vs_bare_asgi": round(results["ping"] / results["bare_asgi"], 2),
        "agents_vs_original": round(results["agents"] / ORIGINAL_AGENTS_RPS, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    add_store_argument(parser)
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
