"""`/api/messaging/jobs*`: the Jobs API (a one-off message to an agent, then poll for its
reply), as the 1.7.2 api-client's `jobs` service calls it. Answers are unwrapped JSON, as
the original server sends them; errors are in the `{success: false, error: {code,
message}}` form: every bad field is 400 VALIDATION_ERROR, an unknown job 404 JOB_NOT_FOUND.
`/health` is registered before `/<job_id>` (static rules win in werkzeug anyway)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from ..jobs import JobService
from ..jobs.errors import JobValidationError
from ..jobs.rules import (
    DEFAULT_TIMEOUT_MS,
    MAX_CONTENT_CHARS,
    MAX_METADATA_CHARS,
    MAX_TIMEOUT_MS,
    MIN_TIMEOUT_MS,
    STATUSES,
    job_json,
)
from .common import json_body, query_int, server
from .contract import declare
from .inputs import Integer, Number, Obj, Text, Uuid

bp = Blueprint("jobs", __name__, url_prefix="/api/messaging/jobs")

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
CODE = JobValidationError.code
TAGS = "jobs"
UNWRAPPED = {"application/json": {"type": "object",
                                  "description": "unwrapped, as the original server answers"}}
CREATE = Obj(fields={
    # "" is absent, as the original's `if (body.agentId)` reads it.
    "agentId": Uuid(empty=True, nullable=True,
                    description="the agent to ask; else the first running agent"),
    "userId": Uuid(description="who asks"),
    "content": Text(max_chars=MAX_CONTENT_CHARS, blank=False,
                    long_message=f"content exceeds maximum length of {MAX_CONTENT_CHARS} "
                                 "characters"),
    "metadata": Obj(nullable=True, description=f"free-form, at most {MAX_METADATA_CHARS} "
                                               "characters as JSON"),
    "timeoutMs": Number(lo=MIN_TIMEOUT_MS, hi=MAX_TIMEOUT_MS, nullable=True,
                        description=f"how long the agent has to answer (default "
                                    f"{DEFAULT_TIMEOUT_MS})"),
}, required=("userId", "content"))
JOB = {"job_id": Text(description="a job id (an unknown one is 404 JOB_NOT_FOUND)")}
LIST = {"limit": Integer(clamp=(1, MAX_LIMIT)),
        "status": Text(enum=STATUSES, description="only the jobs in this status")}


def _service() -> JobService:
    return server().jobs


@bp.get("/health")
@declare("Jobs health: counts and rates over the stored jobs", tags=TAGS, error_code=CODE,
         answers=UNWRAPPED)
async def health() -> Any:
    return await _service().health()


@bp.post("")
@declare("Send a one-off message to an agent as a job", tags=TAGS, body=CREATE, status=201,
         error_code=CODE, answers=UNWRAPPED,
         description="Answers `{jobId, status, createdAt, expiresAt}` at once; poll "
                     "`GET /api/messaging/jobs/{jobId}` for the agent's reply. 404 when the "
                     "agent does not run (or none does), 503 TOO_MANY_JOBS when this server "
                     "follows as many jobs as it can.")
async def create_job() -> Any:
    body = await json_body()
    job = await _service().create(
        user_id=body["userId"], content=body["content"], agent_id=body.get("agentId"),
        metadata=body.get("metadata"), timeout_ms=body.get("timeoutMs"))
    return {"jobId": job["id"], "status": job["status"], "createdAt": job["created_at"],
            "expiresAt": job["expires_at"]}, 201


@bp.get("")
@declare("The stored jobs, newest first", tags=TAGS, query=LIST, error_code=CODE,
         answers=UNWRAPPED)
async def list_jobs() -> Any:
    limit = query_int("limit", DEFAULT_LIMIT, lo=1, hi=MAX_LIMIT)
    return await _service().list(request.args.get("status") or None, limit)


@bp.get("/<job_id>")
@declare("A job's state, with the agent's reply once completed", tags=TAGS, path=JOB,
         error_code=CODE, answers=UNWRAPPED)
async def get_job(job_id: str) -> Any:
    return job_json(await _service().get(job_id))
