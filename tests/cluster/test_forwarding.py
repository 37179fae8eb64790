"""A request that needs an agent another worker runs (the registry raises RunsElsewhere) is
carried to that worker's internal listener and answered from there; a worker that is gone
is a 503 in the API's error envelope, and a carried request is never carried again.

Real processes on one PostgreSQL schema, serving the eliza app plus the routes of
`carrying.py` (which say where their agent runs).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.polling import wait_until_sync

from .carrying import Worker, deployment

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[Worker]]:
    with deployment(tmp_path, 2) as workers:
        yield workers


def echo_of(response: httpx.Response) -> tuple[dict[str, Any], bytes]:
    """What the answering worker saw (its first line), and the rest of its answer."""
    head, _, rest = response.content.partition(b"\n")
    return json.loads(head), rest


def test_a_request_is_answered_by_the_worker_running_its_agent(pair: list[Worker]) -> None:
    a, b = pair
    id_a, id_b = a.info()["id"], b.info()["id"]
    body = b'{"text": "speak this"}'
    with httpx.Client(timeout=30) as client:
        response = client.post(
            f"{b.url}/test/elsewhere", params={"to": id_a, "voice": "en"}, content=body,
            headers={"X-API-KEY": "the-key", "Content-Type": "application/json",
                     "X-Custom": "kept", "X-Forwarded-For": "203.0.113.7"})
        assert response.status_code == 201
        assert response.headers["x-test-answer"] == f"from {id_a}"
        assert response.headers["content-type"] == "application/x-test-echo"
        assert response.headers.get_list("date") == [response.headers["date"]]  # one, B's
        seen, _ = echo_of(response)
        assert seen["worker"] == id_a
        assert seen["method"] == "POST"
        assert seen["query"] == f"to={id_a}&voice=en"
        assert seen["bodySha256"] == hashlib.sha256(body).hexdigest()
        headers = seen["headers"]
        assert headers["x-api-key"] == "the-key"
        assert headers["x-custom"] == "kept"
        assert headers["content-type"] == "application/json"
        assert headers["host"] == b.url.removeprefix("http://")  # as the client sent it
        assert headers["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
        assert headers["x-eliza-carried-by"] == id_b
        assert seen["admittedElsewhere"]  # B counted its rate limits: A does not again

        local = client.get(f"{a.url}/test/elsewhere", params={"to": id_a})
        assert local.status_code == 201
        assert "x-eliza-carried-by" not in echo_of(local)[0]["headers"]
        assert not echo_of(local)[0]["admittedElsewhere"]
        # A client's made-up hop marker admits nothing: only the internal listener marks.
        forged = client.get(f"{a.url}/test/elsewhere", params={"to": id_a},
                            headers={"x-eliza-carried-by": "forged"})
        assert forged.status_code == 201
        assert not echo_of(forged)[0]["admittedElsewhere"]


def test_large_bodies_are_carried_both_ways(pair: list[Worker]) -> None:
    a, b = pair
    id_a = a.info()["id"]
    upload = os.urandom(8 * 1024 * 1024)
    size = 24 * 1024 * 1024
    with httpx.Client(timeout=60) as client, client.stream(
            "PUT", f"{b.url}/test/elsewhere", params={"to": id_a, "size": size},
            content=upload) as response:
        assert response.status_code == 201
        chunks = response.iter_raw()
        head, _, rest = next(chunks).partition(b"\n")
        seen = json.loads(head)
        assert seen["bodyLength"] == len(upload)
        assert seen["bodySha256"] == hashlib.sha256(upload).hexdigest()
        received = hashlib.sha256(rest)
        for chunk in chunks:
            received.update(chunk)
    pattern = bytes(range(256)) * 256  # what the route answers, 64 KiB at a time
    expected = (pattern * (size // len(pattern) + 1))[:size]
    assert received.hexdigest() == hashlib.sha256(expected).hexdigest()


def test_a_worker_that_is_gone_is_a_503(tmp_path: Path) -> None:
    with deployment(tmp_path, 3) as (killed, survivor, stopped):
        gone = {killed.info()["id"]: killed, stopped.info()["id"]: stopped}
        with httpx.Client(timeout=30) as client:
            for worker_id in gone:  # carried while they run
                assert client.get(f"{survivor.url}/test/elsewhere",
                                  params={"to": worker_id}).status_code == 201
            os.kill(killed.serving_pid(), signal.SIGKILL)
            stopped.stop()
            wait_until_sync(lambda: killed.proc is not None and killed.proc.poll() is not None,
                            message="the killed worker's server to exit")
            for worker_id in [*gone, "wnever0000ed"]:
                response = client.post(f"{survivor.url}/test/elsewhere",
                                       params={"to": worker_id}, content=b"{}")
                assert response.status_code == 503
                assert response.elapsed.total_seconds() < 5  # no wait for a lease to end
                error = response.json()
                assert error["success"] is False
                assert error["error"]["code"] == "WORKER_UNAVAILABLE"
                assert error["error"]["details"] == {"agentId": f"agent-on-{worker_id}",
                                                     "workerId": worker_id}
                assert "retry" in error["error"]["message"]
                assert int(response.headers["retry-after"]) >= 1


def test_a_carried_request_is_never_carried_again(pair: list[Worker]) -> None:
    a, b = pair
    id_a, id_b = a.info()["id"], b.info()["id"]
    # On B the agent is on A; carried to A, A finds it on B: A answers, no third hop.
    response = httpx.get(f"{b.url}/test/bounce", params={"a": id_a, "b": id_b}, timeout=30)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "WORKER_UNAVAILABLE"
    assert error["message"] == "Agent bouncing-agent is moving between workers: retry in a moment"
    assert (a.info()["bounces"], b.info()["bounces"]) == (1, 1)


def test_the_directory_lists_live_workers_and_forgets_gone_ones(tmp_path: Path) -> None:
    with deployment(tmp_path, 3, ELIZA_LEASE_SECONDS="1") as (killed, survivor, stopped):
        infos = {worker.info()["id"]: worker.info()["internal"] for worker in
                 (killed, survivor, stopped)}
        with psycopg.connect(survivor.env["POSTGRES_URL"], autocommit=True) as db:

            def rows() -> dict[str, tuple[str, int]]:
                found = db.execute("SELECT id, internal_url, seen_at FROM workers").fetchall()
                return {row[0]: (row[1], row[2]) for row in found}

            listed = wait_until_sync(lambda: rows() if len(rows()) == 3 else None,
                                     message="the three workers to be listed")
            assert {worker: url for worker, (url, _) in listed.items()} == infos
            wait_until_sync(lambda: all(rows()[w][1] > seen for w, (_, seen) in listed.items()),
                            within=3, message="every worker's heartbeat to advance")
            killed_id, stopped_id = killed.info()["id"], stopped.info()["id"]
            stopped.stop()
            assert stopped_id not in rows()  # a worker that stops takes its row out
            os.kill(killed.serving_pid(), signal.SIGKILL)
            assert killed_id in rows()  # a killed one cannot: the others prune it
            wait_until_sync(lambda: killed_id not in rows(), within=6,
                            message="the killed worker's row to be pruned (3 leases)")
            assert list(rows()) == [survivor.info()["id"]]
