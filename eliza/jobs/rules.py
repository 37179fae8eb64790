"""The Jobs API's limits, statuses and shapes, as the 1.7.2 api-client's types define them
(`JobStatus`, `JobValidation`, `JobDetailsResponse`)."""

from __future__ import annotations

import json
from typing import Any

from .errors import JobValidationError

PENDING, PROCESSING, COMPLETED, FAILED, TIMEOUT = (
    "pending", "processing", "completed", "failed", "timeout")
STATUSES = (PENDING, PROCESSING, COMPLETED, FAILED, TIMEOUT)
ENDED = (COMPLETED, FAILED, TIMEOUT)

MAX_CONTENT_CHARS = 50_000
MAX_METADATA_CHARS = 10_000  # the metadata as JSON
DEFAULT_TIMEOUT_MS = 30_000
MIN_TIMEOUT_MS = 1_000
MAX_TIMEOUT_MS = 300_000
# A job that ended stays readable this long past its expiry, then the sweeper deletes it:
# a client polling slowly still reads the outcome of a job that ended at its deadline.
KEEP_AFTER_EXPIRY_MS = 5 * 60_000

TIMED_OUT = "Job timed out waiting for agent response"
NOT_SENT = "Failed to create user message"
AGENT_GONE = "The job's agent is not running"


def check_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))) > (
            MAX_METADATA_CHARS):
        raise JobValidationError(
            f"metadata exceeds maximum size of {MAX_METADATA_CHARS} characters",
            details={"field": "metadata",
                     "problem": f"must be at most {MAX_METADATA_CHARS} characters as JSON"})
    return metadata


def timeout_ms(requested: float | None) -> int:
    """The job's timeout; the route has checked the range."""
    return DEFAULT_TIMEOUT_MS if requested is None else int(requested)


def job_json(job: dict[str, Any]) -> dict[str, Any]:
    """JobDetailsResponse: `result` only once completed, `error` only once failed or timed
    out (the original leaves them out while undefined)."""
    out: dict[str, Any] = {
        "jobId": job["id"], "status": job["status"], "agentId": job["agent_id"],
        "userId": job["user_id"], "prompt": job["content"], "createdAt": job["created_at"],
        "expiresAt": job["expires_at"],
    }
    if job.get("result") is not None:
        out["result"] = job["result"]
    if job.get("error"):
        out["error"] = job["error"]
    out["metadata"] = job["metadata"]
    return out


def result_of(reply: dict[str, Any], created_at: int) -> dict[str, Any]:
    """JobResult from the agent's stored reply (a `central_messages` row)."""
    return {
        "message": {"id": reply["id"], "content": reply["content"],
                    "authorId": reply["author_id"], "createdAt": reply["created_at"],
                    "metadata": reply.get("metadata") or {}},
        "processingTimeMs": max(0, reply["created_at"] - created_at),
    }
