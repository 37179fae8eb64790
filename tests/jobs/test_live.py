"""End to end against real `hypercorn -k trio` processes: jobs are stored, so a job
survives a restart (one whose follower was lost is settled from the store when read), and
every worker of a deployment answers for every job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from conftest import LiveServer
from tests.backends import own_schema, server_database
from tests.polling import wait_until_sync

from .helpers import BASE, ELIZA_ID, USER_ID, eliza_answer


def _create(http: httpx.Client, content: str, **extra: Any) -> str:
    response = http.post(BASE, json={"userId": USER_ID, "content": content, **extra})
    assert response.status_code == 201, response.text
    return str(response.json()["jobId"])


def _ended(http: httpx.Client, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = http.get(f"{BASE}/{job_id}").json()
        return job if job["status"] != "processing" else None

    return wait_until_sync(done, within=20, message=f"job {job_id} to end")


def _restart_flow(server: LiveServer) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        kept = _create(http, "I feel anxious about my work", agentId=ELIZA_ID)
        lost = _create(http, "I dreamt about my family", agentId=ELIZA_ID)
        late = _create(http, "I am sad", agentId=ELIZA_ID)
        before = {job_id: _ended(http, job_id) for job_id in (kept, lost, late)}
        server.stop()
        # As if the worker had died before writing two of the outcomes: `lost` was answered
        # in time, `late` was answered after its deadline (here: a deadline long past).
        with server_database(server.data_dir) as db:
            db.execute("UPDATE jobs SET status = 'processing', result = NULL, error = NULL,"
                       " processing_ms = NULL WHERE id IN (?, ?)", [lost, late])
            db.execute("UPDATE jobs SET expires_at = created_at - 1 WHERE id = ?", [late])
        server.start()
        http.base_url = httpx.URL(server.url)  # a restart picks a new port
        after = {job_id: http.get(f"{BASE}/{job_id}").json() for job_id in (kept, lost, late)}
        listed = http.get(BASE).json()
        return {"ids": (kept, lost, late), "before": before, "after": after,
                "listed": listed}


async def test_jobs_survive_a_restart(live_server: LiveServer) -> None:
    out = await trio.to_thread.run_sync(_restart_flow, live_server)
    kept, lost, late = out["ids"]
    before, after = out["before"], out["after"]
    assert before[kept]["result"]["message"]["content"] == eliza_answer(
        "I feel anxious about my work")
    assert after[kept] == before[kept]
    # Settled from the store when read: the reply was stored in time...
    assert after[lost]["status"] == "completed"
    assert after[lost]["result"] == before[lost]["result"]
    # ...or after the deadline, which is a timeout.
    assert after[late]["status"] == "timeout"
    assert after[late]["error"] == "Job timed out waiting for agent response"
    assert "result" not in after[late]
    assert out["listed"]["total"] == 3
    assert {j["jobId"]: j["status"] for j in out["listed"]["jobs"]} == {
        kept: "completed", lost: "completed", late: "timeout"}


@pytest.mark.postgres
@pytest.mark.sqlite_only  # its own schema, shared by two server processes
def test_every_worker_of_a_deployment_answers_for_a_job(tmp_path: Path) -> None:
    with own_schema("jobs") as (_, url):
        env = {"POSTGRES_URL": url, "ELIZA_BUS": "postgres", "SECRET_SALT": "one-salt",
               "ELIZA_LEASE_SECONDS": "2"}
        a = LiveServer(tmp_path / "a" / ".eliza", env)
        b = LiveServer(tmp_path / "b" / ".eliza", env)
        a.start()
        try:
            b.start()
            with httpx.Client(base_url=a.url, timeout=30) as on_a, \
                    httpx.Client(base_url=b.url, timeout=30) as on_b:
                for creator, reader in ((on_a, on_b), (on_b, on_a)):
                    text = f"I need help from {creator.base_url.port}"
                    job_id = _create(creator, text)
                    job = _ended(reader, job_id)
                    assert job["status"] == "completed", job
                    assert job["result"]["message"]["content"] == eliza_answer(text)
                    assert job_id in [j["jobId"] for j in reader.get(BASE).json()["jobs"]]
                assert on_b.get(f"{BASE}/health").json()["statusCounts"]["completed"] == 2
        finally:
            b.stop()
            a.stop()
