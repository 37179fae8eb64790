"""The Jobs API in process: a job completes with the agent's reply, times out, fails with
the agent's failed turn; bad requests change nothing; listing, health and the bound on the
jobs one worker follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eliza.server import AgentServer
from eliza.store import jobs as jq
from tests.polling import wait_until

from .helpers import (
    BASE,
    ELIZA_ID,
    USER_ID,
    SlowModel,
    create_job,
    eliza_answer,
    ended,
    job_state,
    server_with_agent_on,
)

UNKNOWN_AGENT = "0b9f3d6e-5a4c-4e2b-9d1f-7c8e6a5b4d3c"


async def stored_status(server: AgentServer, job_id: str, status: str) -> None:
    """Wait until the job's stored status is `status`, without reading it through the API
    (a read settles a job itself): the worker following the job wrote it."""
    async def reached() -> bool:
        job = await server.store.read(jq.get_job, job_id)
        return job is not None and job["status"] == status

    await wait_until(reached, within=10, message=f"job {job_id} stored as {status}")


async def test_a_job_completes_with_the_agents_reply(client: Any,
                                                     agent_server: AgentServer) -> None:
    text = "I feel anxious about my work"
    created = await create_job(client, content=text, agentId=ELIZA_ID,
                               metadata={"ticket": 7})
    assert created["status"] == "processing"
    assert created["expiresAt"] - created["createdAt"] == 30_000  # the default timeout
    await stored_status(agent_server, created["jobId"], "completed")
    job = await job_state(client, created["jobId"])
    assert job["status"] == "completed", job
    assert job["jobId"] == created["jobId"]
    assert (job["agentId"], job["userId"], job["prompt"]) == (ELIZA_ID, USER_ID, text)
    assert job["metadata"] == {"ticket": 7}
    assert "error" not in job
    reply = job["result"]["message"]
    assert reply["content"] == eliza_answer(text)
    assert reply["authorId"] == ELIZA_ID
    assert job["result"]["processingTimeMs"] == reply["createdAt"] - job["createdAt"] >= 0
    # The reply is a real message of the job's own channel, read back through messaging.
    stored = await (await client.get(f"/api/messaging/messages/{reply['id']}")).get_json()
    assert stored["data"]["content"] == reply["content"]


async def test_without_an_agent_id_the_first_running_agent_answers(client: Any) -> None:
    created = await create_job(client, content="Hello there", agentId="")
    job = await ended(client, created["jobId"])
    assert (job["status"], job["agentId"]) == ("completed", ELIZA_ID)


async def test_a_job_nobody_answers_in_time_times_out(tmp_path: Path) -> None:
    model = SlowModel()
    async with server_with_agent_on(tmp_path, model) as (server, client, agent_id):
        created = await create_job(client, content="are you there?", agentId=agent_id,
                                   timeoutMs=1000)
        assert created["expiresAt"] - created["createdAt"] == 1000
        await stored_status(server, created["jobId"], "timeout")
        job = await job_state(client, created["jobId"])
        assert job["status"] == "timeout"
        assert job["error"] == "Job timed out waiting for agent response"
        assert "result" not in job
        model.gate.set()  # a reply after the deadline does not revive the job
        listed = await (await client.get(f"{BASE}?status=timeout")).get_json()
        assert [j["jobId"] for j in listed["jobs"]] == [created["jobId"]]


async def test_a_failed_turn_fails_the_job_with_its_error(tmp_path: Path) -> None:
    model = SlowModel()
    model.failure = "the model is on fire"
    async with server_with_agent_on(tmp_path, model) as (server, client, agent_id):
        created = await create_job(client, content="hello?", agentId=agent_id,
                                   timeoutMs=60_000)
        await stored_status(server, created["jobId"], "failed")
        job = await job_state(client, created["jobId"])
        assert job["status"] == "failed"
        assert job["error"] == "Slow could not answer: RuntimeError: the model is on fire"
        assert "result" not in job
        # Had its follower been lost, a read finds the failure in the agent's run log.
        await server.store.write(lambda db: db.execute(
            "UPDATE jobs SET status = 'processing', error = NULL WHERE id = ?",
            [created["jobId"]]))
        job = await job_state(client, created["jobId"])
        assert (job["status"], job["error"]) == ("failed", "RuntimeError: the model is on fire")


async def _refused(client: Any, body: Any, status: int = 400) -> dict[str, Any]:
    response = await client.post(BASE, json=body)
    answer: dict[str, Any] = await response.get_json()
    assert response.status_code == status, (body, answer)
    assert answer["success"] is False
    error: dict[str, Any] = answer["error"]
    return error


async def test_bad_requests_are_refused_and_create_nothing(
        client: Any, agent_server: AgentServer) -> None:
    ok = {"userId": USER_ID, "content": "hi"}
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"content": "hi"}, "userId", "is required"),
        ({"userId": "not-a-uuid", "content": "hi"}, "userId", "must be a UUID"),
        ({"userId": USER_ID}, "content", "is required"),
        ({**ok, "content": 12}, "content", "must be a string"),
        ({**ok, "content": "   "}, "content", "must be a non-empty string"),
        ({**ok, "content": "x" * 50_001}, "content", "must be at most 50000 characters"),
        ({**ok, "agentId": "nope"}, "agentId", "must be a UUID"),
        ({**ok, "metadata": "x"}, "metadata", "must be an object"),
        ({**ok, "metadata": {"k": "v" * 10_000}}, "metadata",
         "must be at most 10000 characters as JSON"),
        ({**ok, "timeoutMs": 999}, "timeoutMs", "must be a number between 1000 and 300000"),
        ({**ok, "timeoutMs": 300_001}, "timeoutMs",
         "must be a number between 1000 and 300000"),
        ({**ok, "timeoutMs": "5000"}, "timeoutMs", "must be a number between 1000 and 300000"),
    ]
    for body, field, problem in cases:
        error = await _refused(client, body)
        assert error["code"] == "VALIDATION_ERROR", (body, error)
        assert error["details"] == {"field": field, "problem": problem}, (body, error)
    assert (await _refused(client, {**ok, "content": "x" * 50_001}))["message"] == (
        "content exceeds maximum length of 50000 characters")
    # The limits themselves are allowed.
    await create_job(client, content="x" * 50_000, timeoutMs=300_000)
    await create_job(client, content="short", timeoutMs=1000)
    error = await _refused(client, {**ok, "agentId": UNKNOWN_AGENT}, 404)
    assert error == {"code": "AGENT_NOT_FOUND", "message": f"Agent {UNKNOWN_AGENT} not found"}
    assert await agent_server.store.read(jq.count_jobs) == 2


async def test_no_running_agent_is_404(client: Any) -> None:
    assert (await client.post(f"/api/agents/{ELIZA_ID}/stop")).status_code == 200
    error = await _refused(client, {"userId": USER_ID, "content": "anyone?"}, 404)
    assert error == {"code": "AGENT_NOT_FOUND", "message": "No agents available on server"}


async def test_an_unknown_job_is_404(client: Any) -> None:
    for job_id in ("0b9f3d6e-5a4c-4e2b-9d1f-7c8e6a5b4d3c", "not-even-a-uuid"):
        response = await client.get(f"{BASE}/{job_id}")
        assert response.status_code == 404
        assert await response.get_json() == {"success": False, "error": {
            "code": "JOB_NOT_FOUND", "message": "Job not found"}}


async def test_list_newest_first_filtered_and_limited(client: Any) -> None:
    first = await create_job(client, content="one", agentId=ELIZA_ID)
    second = await create_job(client, content="two", agentId=ELIZA_ID)
    await ended(client, first["jobId"])
    await ended(client, second["jobId"])
    listed = await (await client.get(BASE)).get_json()
    assert [j["jobId"] for j in listed["jobs"]] == [second["jobId"], first["jobId"]]
    assert (listed["total"], listed["filtered"]) == (2, 2)
    assert listed["jobs"][0]["prompt"] == "two"
    assert listed["jobs"][0]["result"]["message"]["content"] == eliza_answer("two")
    limited = await (await client.get(f"{BASE}?limit=1")).get_json()
    assert [j["jobId"] for j in limited["jobs"]] == [second["jobId"]]
    assert (limited["total"], limited["filtered"]) == (2, 1)
    none = await (await client.get(f"{BASE}?status=failed")).get_json()
    assert none == {"jobs": [], "total": 2, "filtered": 0}
    response = await client.get(f"{BASE}?status=done")
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "VALIDATION_ERROR"


async def test_health_counts_the_stored_jobs(client: Any) -> None:
    empty = await (await client.get(f"{BASE}/health")).get_json()
    assert empty["healthy"] is True
    assert empty["totalJobs"] == 0
    assert empty["statusCounts"] == {"pending": 0, "processing": 0, "completed": 0,
                                     "failed": 0, "timeout": 0}
    assert empty["metrics"] == {"averageProcessingTimeMs": 0, "successRate": 0,
                                "failureRate": 0, "timeoutRate": 0}
    assert empty["maxJobs"] == 256
    created = await create_job(client, content="Hello", agentId=ELIZA_ID)
    job = await ended(client, created["jobId"])
    health = await (await client.get(f"{BASE}/health")).get_json()
    assert health["totalJobs"] == 1
    assert health["statusCounts"]["completed"] == 1
    assert health["metrics"]["successRate"] == 1
    assert health["metrics"]["averageProcessingTimeMs"] == job["result"]["processingTimeMs"]
    assert health["timestamp"] >= job["createdAt"]


async def test_a_worker_follows_a_bounded_number_of_jobs(tmp_path: Path) -> None:
    model = SlowModel()
    async with server_with_agent_on(tmp_path, model) as (server, client, agent_id):
        server.jobs.max_followed = 2
        held = [await create_job(client, content=f"wait {i}", agentId=agent_id)
                for i in range(2)]
        response = await client.post(BASE, json={"userId": USER_ID, "content": "one more",
                                                 "agentId": agent_id})
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert (await response.get_json())["error"]["code"] == "TOO_MANY_JOBS"
        assert await server.store.read(jq.count_jobs) == 2
        model.gate.set()  # the followed jobs end: their slots are free again
        for job in held:
            assert (await ended(client, job["jobId"]))["status"] == "completed"
        await wait_until(lambda: not server.jobs.following, message="the followers to end")
        await create_job(client, content="now there is room", agentId=agent_id)
        assert (await job_state(client, held[0]["jobId"]))["result"]["message"][
            "content"] == "noted: wait 0"
