"""What an agent's memories add up to (`stats`, `insights`), and the group memory spaces
read across agents (`list_groups`, `group_memories`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..clock import now_ms
from ..errors import NotFound
from ..store import memory_groups as mg
from ..store import memory_stats as ms

if TYPE_CHECKING:
    from ..runtime.ports import AgentDirectory
    from ..store import Store, Transaction


async def stats(store: Store, agents: AgentDirectory, agent_id: str, *, days: int,
                top: int) -> dict[str, Any]:
    """Counts by type, by room and by entity (the `top` largest), and per UTC day over the
    last `days` days (today included)."""
    agents.require_running(agent_id)
    today = now_ms() // ms.DAY_MS

    def read(db: Transaction) -> dict[str, Any]:
        return {"agentId": agent_id, **ms.overview(db, agent_id),
                "byType": ms.by_type(db, agent_id), "byRoom": ms.by_room(db, agent_id, top),
                "byEntity": ms.by_entity(db, agent_id, top),
                "perDay": ms.per_day(db, agent_id, today - days + 1, today)}

    return await store.read(read)


async def insights(store: Store, agents: AgentDirectory, agent_id: str, *,
                   top: int) -> dict[str, Any]:
    """The most active rooms and entities, the first and last memories' times, the busiest
    day, and how many memories the last day and week brought."""
    agents.require_running(agent_id)
    now = now_ms()

    def read(db: Transaction) -> dict[str, Any]:
        overview = ms.overview(db, agent_id)
        types = ms.by_type(db, agent_id)
        days = overview.pop("activeDays")
        return {
            "agentId": agent_id, **overview, "activeDays": days,
            "averagePerActiveDay": round(overview["total"] / days, 2) if days else 0,
            "busiestDay": ms.busiest_day(db, agent_id),
            "mostCommonType": types[0] if types else None,
            "last24h": ms.count_since(db, agent_id, now - ms.DAY_MS),
            "last7d": ms.count_since(db, agent_id, now - 7 * ms.DAY_MS),
            "mostActiveRooms": ms.by_room(db, agent_id, top),
            "mostActiveEntities": ms.by_entity(db, agent_id, top),
        }

    return await store.read(read)


async def list_groups(store: Store, limit: int) -> list[dict[str, Any]]:
    return await store.read(mg.list_groups, limit)


async def group_memories(store: Store, group_id: str, *, table: str | None, before: int,
                         limit: int) -> list[dict[str, Any]]:
    def read(db: Transaction) -> list[dict[str, Any]] | None:
        if not mg.group_exists(db, group_id):
            return None
        return mg.group_memories(db, group_id, table=table, before=before, limit=limit)

    memories = await store.read(read)
    if memories is None:
        raise NotFound("Group not found")
    return memories


__all__ = ["group_memories", "insights", "list_groups", "stats"]
