"""Workers of one deployment for the forwarding tests: real `hypercorn -k trio` processes on
one PostgreSQL schema (ELIZA_BUS=postgres makes them a deployment), serving the eliza app
plus a few routes that need an agent "running elsewhere" (`RunsElsewhere`), so a test can
watch a request be carried from one worker to another.

`python -m hypercorn ... tests.cluster.carrying:app` serves the module-level `app`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from quart import Response, current_app, request

from eliza.app import create_app
from eliza.errors import RunsElsewhere
from eliza.security.middleware import ADMITTED_ELSEWHERE
from eliza.testing.inprocess import DEFAULT_ENV
from eliza.testing.live import LiveServer, child_pids
from tests.backends import own_schema

ROOT = Path(__file__).resolve().parents[2]

app = create_app()
# How often each worker's /test/bounce ran (the loop-guard test counts them).
bounces = 0


def _own_id() -> str:
    return str(current_app.config["ELIZA_SERVER"].worker.id)


@app.route("/test/worker")
async def worker() -> dict[str, Any]:
    server = current_app.config["ELIZA_SERVER"]
    return {"id": server.worker.id, "internal": server.workers.internal_url,
            "bounces": bounces}


@app.route("/test/elsewhere", methods=["GET", "POST", "PUT"])
async def elsewhere() -> Any:
    """Answered by worker `to`: what arrived (method, query, headers, body digest), then
    `size` bytes of answer; any other worker finds the agent runs on `to`."""
    target = request.args["to"]
    if target != _own_id():
        raise RunsElsewhere("agent-on-" + target, target)
    body = await request.get_data()
    assert isinstance(body, bytes)
    size = int(request.args.get("size", 0))
    echo = json.dumps({
        "worker": _own_id(), "method": request.method, "query": request.query_string.decode(),
        "headers": {name.lower(): value for name, value in request.headers.items()},
        "bodyLength": len(body), "bodySha256": hashlib.sha256(body).hexdigest(),
        "admittedElsewhere": bool(request.scope.get(ADMITTED_ELSEWHERE)),
    })

    async def answer() -> Any:
        yield echo.encode() + b"\n"
        chunk = bytes(range(256)) * 256  # 64 KiB
        left = size
        while left > 0:
            yield chunk[:left]
            left -= len(chunk)

    return Response(answer(), status=201, content_type="application/x-test-echo",
                    headers={"X-Test-Answer": "from " + _own_id()})


@app.route("/test/bounce")
async def bounce() -> Any:
    """Always runs elsewhere: on `a` the agent is on `b`, and on `b` it is on `a`."""
    global bounces
    bounces += 1
    own, a, b = _own_id(), request.args["a"], request.args["b"]
    other = b if own == a else a
    raise RunsElsewhere("bouncing-agent", other)


class Worker(LiveServer):
    """One worker process of the deployment, serving this module's app."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "hypercorn", "-k", "trio", "-b",
                f"127.0.0.1:{self.port}", "tests.cluster.carrying:app"]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    def eio_url(self, transport: str, sid: str | None = None, *, ws: bool = False) -> str:
        url = f"{self.ws_url if ws else self.url}/socket.io/?EIO=4&transport={transport}"
        return url if sid is None else f"{url}&sid={sid}"

    def serving_pid(self) -> int:
        """hypercorn's worker process (`worker_pid` may name multiprocessing's resource
        tracker instead, which starts first)."""
        assert self.proc is not None, "the worker is not running"
        for pid in child_pids(self.proc.pid):
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if b"spawn_main" in cmdline.read():
                    return pid
        return self.proc.pid

    def info(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/test/worker", timeout=5)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


@contextmanager
def deployment(tmp_path: Path, count: int, **env: str) -> Iterator[list[Worker]]:
    """`count` workers sharing a new PostgreSQL schema, started in order, stopped (and
    the schema dropped) at the end."""
    with own_schema("fwd") as (_, url), ExitStack() as stack:
        workers = []
        for index in range(count):
            worker = Worker(tmp_path / f"w{index}" / ".eliza",
                            env={"POSTGRES_URL": url, "ELIZA_BUS": "postgres",
                                 "SECRET_SALT": "one-salt-for-the-deployment",
                                 "PYTHONPATH": str(ROOT), **env},
                            defaults=dict(DEFAULT_ENV))
            stack.callback(worker.stop)
            worker.start()
            workers.append(worker)
        yield workers
