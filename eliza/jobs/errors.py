"""The Jobs API's error codes, in the `{success:false, error:{code, message}}` form every
other route answers."""

from __future__ import annotations

from ..errors import BadRequest, NotFound, ServiceUnavailable


class JobValidationError(BadRequest):
    """A job request the limits refuse (content, metadata, timeout, ids)."""

    code = "VALIDATION_ERROR"


class JobNotFound(NotFound):
    code = "JOB_NOT_FOUND"


class NoAgentAvailable(NotFound):
    """No agentId given and no agent runs."""

    code = "AGENT_NOT_FOUND"


class TooManyJobs(ServiceUnavailable):
    """This worker already follows as many jobs as it may."""

    code = "TOO_MANY_JOBS"
