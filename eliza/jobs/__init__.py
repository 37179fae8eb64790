"""The Jobs API's core: one-off messages to an agent, each finished by the agent's reply,
stored so any worker answers for them, followed by the worker that created them and swept
once per deployment after they end."""

from .service import JobService
from .sweeper import run_job_sweeper

__all__ = ["JobService", "run_job_sweeper"]
