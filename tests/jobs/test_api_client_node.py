"""The published `@elizaos/api-client` 1.7.2 jobs methods (`ask`, `createAndPoll`, ...)
against a live server: they get the agent's reply."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from conftest import run_node

from .helpers import ELIZA_ID, eliza_answer

pytestmark = pytest.mark.node  # the published client, run by node

USER_ID = "965189c0-221e-42f3-89eb-fb91df1f8fe8"


async def test_api_client_jobs_methods(live_server: Any) -> None:
    out = await trio.to_thread.run_sync(
        lambda: run_node("api_client_jobs.mjs", live_server.url, timeout=120))
    assert out["agentId"] == ELIZA_ID
    assert out["healthBefore"]["healthy"] is True
    assert out["healthBefore"]["totalJobs"] == 0
    assert out["ask"] == eliza_answer("I feel anxious about my work")
    assert out["askDefaultAgent"] == eliza_answer("Hello there")

    polled = out["polled"]
    assert polled["success"] is True
    job = polled["job"]
    assert job["status"] == "completed"
    assert (job["agentId"], job["userId"]) == (ELIZA_ID, USER_ID)
    assert job["prompt"] == "I need some help"
    assert job["metadata"] == {"source": "node"}
    assert job["expiresAt"] - job["createdAt"] == 10_000
    assert job["result"]["message"]["content"] == eliza_answer("I need some help")
    assert job["result"]["message"]["authorId"] == ELIZA_ID

    assert out["backoff"]["success"] is True
    assert out["backoff"]["job"]["result"]["message"]["content"] == eliza_answer(
        "I am unhappy")
    created = out["created"]
    assert created["status"] == "processing"
    assert set(created) == {"jobId", "status", "createdAt", "expiresAt"}
    assert out["job"]["result"]["message"]["content"] == eliza_answer(
        "My mother takes care of me")
    assert out["fetched"] == out["job"]

    assert out["list"]["filtered"] == 2
    assert out["list"]["total"] == 5
    assert out["list"]["jobs"][0]["jobId"] == created["jobId"]
    assert out["listCompleted"]["filtered"] == 5
    after = out["healthAfter"]
    assert after["totalJobs"] == 5
    assert after["statusCounts"]["completed"] == 5
    assert after["metrics"]["successRate"] == 1

    assert out["unknown"] == {"error": {"code": "JOB_NOT_FOUND", "status": 404,
                                        "message": "Job not found"}}
    assert out["invalid"]["error"]["code"] == "VALIDATION_ERROR"
    assert out["invalid"]["error"]["status"] == 400
    assert out["tooShort"]["error"] == {
        "code": "VALIDATION_ERROR", "status": 400,
        "message": "timeoutMs must be a number between 1000 and 300000"}
