"""Statements (database round trips) per request on the PostgreSQL store, read from
PostgreSQL's own log: the server's connections get `log_min_duration_statement=0` through
libpq's `options` (a superuser setting; the bench user is `postgres`), so every statement
they run is logged with its duration, and only theirs.

    python -m bench.pg_statements [--requests 30] [--log /var/log/postgresql/...log]

Against a real server on a fresh schema (bench/stores.py), one kind of request at a time,
sequentially: a session send with `transport: "http"` (the agent's turn included), a REST
post to a DM channel (then a pause for the agent's reply; no polling), `GET` of that
channel's last 20 messages, `GET /api/agents`, and an idle window. For each: statements per
request (each one a round trip: `BEGIN` and `COMMIT` count), transactions per request, the
database's own time per request (the logged durations: parse + bind + execute) against the
wall time per request, and the most frequent statement shapes. pg_stat_statements would do
the same if it were preloaded; this needs only the log file to be readable.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.server import serving
from bench.stores import postgres_schema, postgres_url

DEFAULT_LOG = "/var/log/postgresql/postgresql-15-main.log"
# Debian's log_line_prefix is '%m [%p] %q%u@%d '; a statement line then reads
# "... [pid] user@db LOG:  duration: 0.123 ms  execute <unnamed>: SELECT ..."
LINE = re.compile(r"\[(\d+)\].*?LOG:\s+duration: ([\d.]+) ms\s+(\w+)(?: [^:]*)?:\s?(.*)")


class LogReader:
    """The log from a given offset on, for the backends of one application name."""

    def __init__(self, path: Path, application: str) -> None:
        self.path = path
        self.application = application
        self.offset = path.stat().st_size

    def backends(self) -> set[int]:
        with psycopg.connect(postgres_url(), autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                                (self.application,)).fetchall()
        return {int(row[0]) for row in rows}

    def take(self) -> list[tuple[str, float, str]]:
        """(phase, duration ms, statement) of our backends' lines since the last take."""
        pids = self.backends()
        with self.path.open("rb") as f:
            f.seek(self.offset)
            text = f.read().decode(errors="replace")
            self.offset = f.tell()
        out = []
        for line in text.splitlines():
            match = LINE.search(line)
            if match and int(match.group(1)) in pids:
                out.append((match.group(3), float(match.group(2)), match.group(4)))
        return out


def shape(statement: str) -> str:
    """A statement's first words, literals and placeholders folded, for counting shapes."""
    text = re.sub(r"'[^']*'|\$\d+|\b\d+\b", "?", " ".join(statement.split()))
    return text[:90]


def summarise(lines: list[tuple[str, float, str]], requests: int, wall: float
              ) -> dict[str, Any]:
    # One round trip per simple query ("statement") or extended-protocol "execute"; parse and
    # bind travel with their execute.
    trips = [(d, s) for phase, d, s in lines if phase in ("statement", "execute")]
    db_ms = sum(d for _, d, _ in lines)
    return {
        "requests": requests,
        "statements_per_request": round(len(trips) / requests, 2),
        "transactions_per_request": round(
            sum(1 for _, s in trips if s.strip().upper() == "BEGIN") / requests, 2),
        "db_ms_per_request": round(db_ms / requests, 3),
        "wall_ms_per_request": round(wall * 1000 / requests, 2),
        "top_statements": Counter(shape(s) for _, s in trips).most_common(30),
    }


def measure(reader: LogReader, requests: int, one: Callable[[int], None], settle: float = 0.5
            ) -> dict[str, Any]:
    time.sleep(settle)
    reader.take()  # drop whatever came before
    t0 = time.perf_counter()
    for i in range(requests):
        one(i)
    wall = time.perf_counter() - t0
    time.sleep(settle)  # writes that finish after the answer (the agent's turn)
    return summarise(reader.take(), requests, wall)


def run(args: argparse.Namespace) -> dict[str, Any]:
    log = Path(args.log)
    if not log.is_file():
        raise SystemExit(f"cannot read PostgreSQL's log at {log} (--log)")
    application = f"eliza-bench-{uuid.uuid4().hex[:8]}"
    options = ("-clog_min_duration_statement=0", f"-capplication_name={application}")
    report: dict[str, Any] = {"store": "postgres"}
    with tempfile.TemporaryDirectory() as tmp, \
            postgres_schema(options=options) as (_schema, url), \
            serving(Path(tmp) / ".eliza", env={"POSTGRES_URL": url}) as (_proc, base), \
            httpx.Client(base_url=base, timeout=30) as http:
        reader = LogReader(log, application)
        agent_id = http.get("/api/agents").json()["data"]["agents"][0]["id"]
        user = str(uuid.uuid4())
        session = http.post("/api/messaging/sessions", json={
            "agentId": agent_id, "userId": user}).json()["sessionId"]
        channel = http.get("/api/messaging/dm-channel", params={
            "currentUserId": user, "targetUserId": agent_id}).json()["data"]["id"]
        messages = f"/api/messaging/channels/{channel}/messages"
        for i in range(5):  # warm-up: first-use queries, prepared statements
            http.post(f"/api/messaging/sessions/{session}/messages",
                      json={"content": f"warm-up {i}", "transport": "http"})

        def session_send(i: int) -> None:
            http.post(f"/api/messaging/sessions/{session}/messages",
                      json={"content": f"I feel anxious {i}", "transport": "http"}
                      ).raise_for_status()

        def channel_post(i: int) -> None:
            http.post(messages, json={
                "content": f"I need some help {i}", "author_id": user,
                "message_server_id": "00000000-0000-0000-0000-000000000000",
            }).raise_for_status()
            time.sleep(args.turn_pause)  # the agent's reply, without polling for it

        def channel_get(_i: int) -> None:
            http.get(messages, params={"limit": 20}).raise_for_status()

        def agents(_i: int) -> None:
            http.get("/api/agents").raise_for_status()

        def idle(_i: int) -> None:
            time.sleep(1.0)

        n = args.requests
        report["session_send_http"] = measure(reader, n, session_send)
        report["channel_post_and_reply"] = measure(reader, n, channel_post)
        report["channel_messages_get"] = measure(reader, n, channel_get)
        report["agents_get"] = measure(reader, n, agents)
        report["idle_per_second"] = measure(reader, 3, idle)
        report["channel_post_and_reply"]["wall_ms_per_request"] = None  # includes the pause
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--turn-pause", type=float, default=0.3,
                        help="seconds after each channel post for the agent's reply")
    parser.add_argument("--log", default=DEFAULT_LOG, help="PostgreSQL's log file")
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
