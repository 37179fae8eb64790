"""ActivityService: what an agent did, from its log rows: the rows themselves (runs, model
calls, actions) and its runs (turns aggregated from `run_event`, `useModel:*`, action and
evaluator logs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NotFound
from ..store import memory_queries as mq
from ..store import runs as rq

if TYPE_CHECKING:
    from ..runtime.ports import AgentDirectory
    from ..store import Store


class ActivityService:
    def __init__(self, store: Store, agents: AgentDirectory) -> None:
        self.store = store
        self.agents = agents

    async def list_logs(self, agent_id: str, *, room_id: str | None, type_: str | None,
                        count: int, offset: int, exclude: list[str]) -> list[dict[str, Any]]:
        """The agent's log rows, newest first; the agent must be running, as in the
        original."""
        self.agents.require_running(agent_id)
        return await self.store.read(
            lambda db: mq.list_logs(db, agent_id, room_id=room_id, type_=type_, count=count,
                                    offset=offset, exclude=exclude))

    async def delete_log(self, agent_id: str, log_id: str) -> None:
        self.agents.require_running(agent_id)
        if not await self.store.write(mq.delete_log, agent_id, log_id):
            raise NotFound("Log not found")

    async def list_runs(self, agent_id: str, *, room_id: str | None, status: str | None,
                        limit: int, since: int | None, until: int | None) -> dict[str, Any]:
        self.agents.get(agent_id)
        return await self.store.read(
            lambda db: rq.list_runs(db, agent_id, room_id=room_id, status=status, limit=limit,
                                    since=since, until=until))

    async def get_run(self, agent_id: str, run_id: str) -> dict[str, Any]:
        self.agents.get(agent_id)
        detail = await self.store.read(rq.get_run, agent_id, run_id)
        if detail is None:
            raise NotFound("Run not found")
        return detail
