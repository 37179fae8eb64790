"""JobService: the Jobs API's state and rules over the store.

A job is a one-off message from a user to an agent, in a DM channel of its own; it
completes with the agent's reply, fails with the error of the agent's failed turn, or times
out. The worker that creates a job follows it (`follower.py`) and writes its outcome; since
jobs are stored, any worker reads them, and a job whose follower is gone (its worker
restarted or died) is settled from the store when it is next read: the reply or the failed
turn is found there, or its time is up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from .. import ids
from ..clock import now_ms
from ..errors import AgentNotFound, ServiceUnavailable
from ..store import jobs as jq
from . import rules
from .errors import JobNotFound, NoAgentAvailable, TooManyJobs
from .follower import Ending, follow
from .rules import COMPLETED, FAILED, PROCESSING, TIMEOUT
from .sweeper import run_job_sweeper

if TYPE_CHECKING:
    from ..bus import MessageBus, Subscription
    from ..cluster.ownership import Ownership
    from ..messaging import MessagingService
    from ..runtime.ports import AgentDirectory
    from ..store import Store

log = logging.getLogger(__name__)

# Jobs one worker follows at once; each holds two bounded bus subscriptions. Beyond it a
# create is 503 TOO_MANY_JOBS (retry shortly).
MAX_FOLLOWED = 256
OVERDUE_BATCH = 100
NOT_HEARD = Ending()  # what a read knows of a job: only what the store holds


class JobService:
    def __init__(self, store: Store, bus: MessageBus, messaging: MessagingService,
                 agents: AgentDirectory, *, clock: Callable[[], int] = now_ms,
                 max_followed: int = MAX_FOLLOWED) -> None:
        self.store = store
        self.bus = bus
        self.messaging = messaging
        self.agents = agents
        # Epoch ms; tests swap it to move time without sleeping.
        self.clock = clock
        self.max_followed = max_followed
        self.following: set[str] = set()  # ids of the jobs this worker follows now
        self._followers: trio.Nursery | None = None

    async def run(self, *, deployment: Ownership | None = None,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the nursery the followers run in, and the sweeper, until cancelled."""
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: run_job_sweeper(
                self, deployment=deployment, task_status=task_status))
            self._followers = nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._followers = None

    # -- creating ---------------------------------------------------------------------------

    def _agent(self, agent_id: str | None) -> str:
        if agent_id is None:  # as the original: the first agent that runs
            running = [a for a in self.agents.agent_ids() if self.agents.is_running(a)]
            if not running:
                raise NoAgentAvailable("No agents available on server")
            return running[0]
        if not self.agents.is_running(agent_id):
            raise AgentNotFound(f"Agent {agent_id} not found")
        return agent_id

    async def create(self, *, user_id: str, content: str, agent_id: str | None,
                     metadata: dict[str, Any] | None, timeout_ms: float | None
                     ) -> dict[str, Any]:
        """Store the job and its channel, post its message and follow it; the job as stored.
        The route has checked the fields' types and ranges."""
        metadata = rules.check_metadata(metadata)
        agent_id = self._agent(agent_id)
        if self._followers is None:
            raise ServiceUnavailable("The jobs service is not running")
        if len(self.following) >= self.max_followed:
            raise TooManyJobs("This server follows as many jobs as it can; retry shortly",
                              headers={"Retry-After": "1"})
        job_id, channel_id = ids.new_uuid(), ids.new_uuid()
        now = self.clock()
        job = {"id": job_id, "agent_id": agent_id, "user_id": user_id,
               "channel_id": channel_id, "user_message_id": ids.new_uuid(),
               "content": content, "metadata": metadata, "status": PROCESSING,
               "created_at": now, "expires_at": now + rules.timeout_ms(timeout_ms)}
        channel = {"id": channel_id, "message_server_id": ids.DEFAULT_SERVER_ID,
                   "name": f"job-{job_id}", "type": "DM", "source_type": "job",
                   "source_id": job_id, "topic": None, "created_at": now, "updated_at": now,
                   "metadata": {**metadata, "jobId": job_id, "agentId": agent_id,
                                "userId": user_id, "isJobChannel": True}}
        self.following.add(job_id)  # the slot is taken before anything is written
        try:
            await self.store.write(jq.create_job, job, channel, [agent_id, user_id])
            return await self._send(job)
        except BaseException:
            self.following.discard(job_id)
            raise

    async def _send(self, job: dict[str, Any]) -> dict[str, Any]:
        """Post the job's message and start following it; a job whose message could not
        be posted, or that no running agent takes, fails at once."""
        replies = self.messaging.watch_replies(f"job:{job['id']}")
        error = None
        try:
            posted = await self.messaging.post_message(
                channel_id=job["channel_id"], author_id=job["user_id"],
                content=job["content"], source_type="job_request",
                raw_message={"content": job["content"]},
                metadata={**job["metadata"], "jobId": job["id"], "isJobMessage": True},
                message_id=job["user_message_id"], create_channel=False)
            if not posted.recipients:
                error = rules.AGENT_GONE
        except Exception:
            log.exception("the message of job %s could not be posted", job["id"])
            error = rules.NOT_SENT
        if error is not None:
            replies.close()
            self.following.discard(job["id"])
            return await self.store.write(jq.finish_job, job["id"],
                                          {"status": FAILED, "error": error}) or job
        assert self._followers is not None
        self._followers.start_soon(self._follow, job, replies)
        return job

    async def _follow(self, job: dict[str, Any], replies: Subscription) -> None:
        try:
            with replies:
                ending = await follow(self, job, replies)
            await self.settle(job, ending)
        except Exception:  # the job is settled when it is next read
            log.exception("following job %s failed", job["id"])
        finally:
            self.following.discard(job["id"])

    # -- reading ----------------------------------------------------------------------------

    async def settle(self, job: dict[str, Any], ending: Ending = NOT_HEARD) -> dict[str, Any]:
        """An unfinished job with its outcome written if it has one: the agent's reply
        (stored before the deadline), its failed turn (as the follower heard it, else from
        the agent's run log), or its time up (`ending` says so when the follower's deadline
        came first by the monotonic clock)."""
        if job["status"] in rules.ENDED:
            return job
        fields = await self.store.read(self._outcome, job, ending)
        if fields is None:
            return job
        return await self.store.write(jq.finish_job, job["id"], fields) or job

    def _outcome(self, db: Any, job: dict[str, Any], ending: Ending) -> dict[str, Any] | None:
        reply = jq.agent_reply(db, job["channel_id"], job["user_message_id"], job["agent_id"])
        if reply is not None and reply["created_at"] <= job["expires_at"]:
            result = rules.result_of(reply, job["created_at"])
            return {"status": COMPLETED, "result": result,
                    "processing_ms": result["processingTimeMs"]}
        error = ending.error
        if error is None:
            room_id = ids.create_unique_uuid(job["agent_id"], job["channel_id"])
            error = jq.turn_error(db, job["agent_id"], room_id, job["user_message_id"])
        if error is not None:
            return {"status": FAILED, "error": error}
        if ending.timed_out or self.clock() >= job["expires_at"]:
            return {"status": TIMEOUT, "error": rules.TIMED_OUT}
        return None

    async def get(self, job_id: str) -> dict[str, Any]:
        job = await self.store.read(jq.get_job, job_id)
        if job is None:
            raise JobNotFound("Job not found")
        return await self.settle(job)

    async def settle_overdue(self) -> int:
        """Settle the unfinished jobs whose time is up (a batch at a time: the sweeper
        comes back for the rest); how many it settled."""
        overdue = await self.store.read(jq.overdue_jobs, self.clock(), OVERDUE_BATCH)
        for job in overdue:
            await self.settle(job, Ending(timed_out=True))
        return len(overdue)

    async def list(self, status: str | None, limit: int) -> dict[str, Any]:
        await self.settle_overdue()
        jobs = await self.store.read(jq.list_jobs, status, limit)
        return {"jobs": [rules.job_json(j) for j in jobs],
                "total": await self.store.read(jq.count_jobs), "filtered": len(jobs)}

    async def health(self) -> dict[str, Any]:
        """Counts and rates over the stored jobs (those of the last minutes: ended jobs are
        swept a few minutes after their expiry)."""
        await self.settle_overdue()
        totals = await self.store.read(jq.status_totals)
        counts = {status: totals.get(status, (0, 0))[0] for status in rules.STATUSES}
        ended = sum(counts[s] for s in rules.ENDED)
        completed_ms = totals.get(COMPLETED, (0, 0))[1]

        def rate(status: str) -> float:
            return round(counts[status] / ended, 2) if ended else 0

        return {
            "healthy": True, "timestamp": self.clock(), "totalJobs": sum(counts.values()),
            "statusCounts": counts,
            "metrics": {
                "averageProcessingTimeMs": round(completed_ms / counts[COMPLETED])
                if counts[COMPLETED] else 0,
                "successRate": rate(COMPLETED), "failureRate": rate(FAILED),
                "timeoutRate": rate(TIMEOUT)},
            "maxJobs": self.max_followed,
            "following": len(self.following),
        }

    async def sweep(self) -> tuple[int, int]:
        """Settle the overdue jobs and delete those that ended more than the keeping time
        past their expiry; (settled, deleted)."""
        settled = await self.settle_overdue()
        deleted = await self.store.write(jq.delete_finished,
                                         self.clock() - rules.KEEP_AFTER_EXPIRY_MS)
        return settled, deleted
