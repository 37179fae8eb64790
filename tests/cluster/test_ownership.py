"""Each running agent runs in exactly one worker: two server processes on one PostgreSQL
database agree on where every agent runs, take over the agents of a worker that died, share
them when a worker joins, and start or stop an agent from either side."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from tests.backends import own_schema
from tests.polling import wait_until_sync

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]

LEASE = 2.0  # seconds: short, so takeovers are quick to see


def _server(root: Path, name: str, url: str) -> LiveServer:
    return LiveServer(root / name / ".eliza", {"POSTGRES_URL": url, "ELIZA_BUS": "postgres",
                                                "SECRET_SALT": "one-salt-for-the-test",
                                                "ELIZA_LEASE_SECONDS": str(LEASE)})


@pytest.fixture
def schema_url() -> Iterator[str]:
    with own_schema("own") as (_, url):
        yield url


def _agents(server: LiveServer) -> dict[str, dict[str, Any]]:
    body = httpx.get(f"{server.url}/api/agents", timeout=10).json()
    return {a["name"]: a for a in body["data"]["agents"]}


def _worker_id(server: LiveServer) -> str:
    state = httpx.get(f"{server.url}/api/server/debug/state", timeout=10).json()
    return str(state["data"]["worker"]["id"])


def _create(server: LiveServer, name: str) -> str:
    response = httpx.post(f"{server.url}/api/agents", timeout=10,
                          json={"characterJson": {"name": name, "bio": ["a test agent"]}})
    assert response.status_code == 201, response.text
    agent_id = str(response.json()["data"]["id"])
    started = httpx.post(f"{server.url}/api/agents/{agent_id}/start", timeout=20)
    assert started.status_code == 200, started.text
    return agent_id


def test_agents_spread_over_the_workers_and_start_stop_work_from_either(
    tmp_path: Path, schema_url: str
) -> None:
    a, b = _server(tmp_path, "a", schema_url), _server(tmp_path, "b", schema_url)
    a.start()
    try:
        names = [f"Spread{i}" for i in range(3)]
        ids = {name: _create(a, name) for name in names}
        workers = Counter(agent["worker"] for agent in _agents(a).values())
        assert len(workers) == 1  # one worker so far: it runs all four
        b.start()

        def spread() -> bool:
            counts = Counter(agent["worker"] for agent in _agents(b).values())
            return len(counts) == 2 and sorted(counts.values()) == [2, 2]

        wait_until_sync(spread, within=6 * LEASE)
        # Stop from the worker that does not run it: it stops where it runs.
        target = names[0]

        def runner() -> str | None:  # once both workers' views agree (each looks every tick)
            worker = _agents(a)[target]["worker"]
            return worker if worker is not None and worker == _agents(b)[target]["worker"] \
                else None

        runs_on = wait_until_sync(runner, within=3 * LEASE, message="both views agreeing")
        stopper = b if _worker_id(a) == runs_on else a
        assert _worker_id(stopper) != runs_on
        stopped = httpx.post(f"{stopper.url}/api/agents/{ids[target]}/stop", timeout=20)
        assert stopped.status_code == 200, stopped.text
        # The stop answers once the worker running it has stopped it: both know at once.
        wait_until_sync(lambda: _agents(a)[target]["status"] == _agents(b)[target]["status"]
                        == "inactive", within=LEASE,
                        message=lambda: f"both inactive (a: {_agents(a)[target]}, "
                                        f"b: {_agents(b)[target]})")
        started = httpx.post(f"{stopper.url}/api/agents/{ids[target]}/start", timeout=20)
        assert started.status_code == 200
        wait_until_sync(lambda: _agents(a)[target]["status"] == _agents(b)[target]["status"]
                   == "active", within=3 * LEASE)
        # A PATCH through either worker reaches both (the one running it restarts it).
        patched = httpx.patch(f"{stopper.url}/api/agents/{ids[target]}", timeout=20,
                              json={"bio": ["patched through one worker"]})
        assert patched.status_code == 200, patched.text
        for server in (a, b):
            wait_until_sync(lambda s=server: httpx.get(  # type: ignore[misc]
                f"{s.url}/api/agents/{ids[target]}", timeout=10).json()["data"]["bio"]
                == ["patched through one worker"], within=LEASE)
        assert _agents(a)[target]["status"] == _agents(b)[target]["status"] == "active"
    finally:
        a.stop()
        b.stop()
