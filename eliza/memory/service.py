"""MemoryService: an agent's memories, rooms and worlds, and the group memory spaces.

Routes scoped to one agent need it running, as in the original ElizaOS server (404
`AGENT_NOT_RUNNING` otherwise); the registry's `require_running` is that check.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, Any

from .. import ids
from ..clock import now_ms
from ..errors import AgentNotFound, BadRequest, Conflict, NotFound
from ..store import agent_memory as am
from ..store import memory_queries as mq

if TYPE_CHECKING:
    from ..runtime.ports import AgentDirectory
    from ..store import Store, Transaction

ROOM_CLEAR_TYPES = ("messages", "documents")


class MemoryService:
    def __init__(self, store: Store, agents: AgentDirectory) -> None:
        self.store = store
        self.agents = agents

    # -- memories -----------------------------------------------------------------------

    async def list_memories(self, agent_id: str, table: str, room_id: str | None,
                            include_embedding: bool) -> list[dict[str, Any]]:
        self.agents.require_running(agent_id)
        return await self.store.read(mq.list_memories, agent_id, table, room_id,
                                     include_embedding)

    async def room_memories(self, agent_id: str, room_id: str, table: str, *, limit: int,
                            before: int | None, include_embedding: bool
                            ) -> list[dict[str, Any]]:
        self.agents.require_running(agent_id)
        return await self.store.read(
            mq.room_memories, agent_id, room_id, table, limit,
            now_ms() + 1 if before is None else before, include_embedding)

    def iter_memories(self, agent_id: str, table: str, room_id: str | None, *,
                      limit: int | None, before: int | None, include_embedding: bool
                      ) -> AsyncIterator[list[dict[str, Any]]]:
        """`list_memories` (no `limit`) or `room_memories` in batches, read a page at a time so
        that no listing is held whole. The agent is checked now, before the first batch."""
        self.agents.require_running(agent_id)

        async def batches() -> AsyncIterator[list[dict[str, Any]]]:
            below: tuple[int, int] | None = None
            left = limit if limit is not None else math.inf
            while left > 0:
                page, below = await self.store.read(partial(
                    mq.memory_page, room_id=room_id, before=before, below=below,
                    count=int(min(left, mq.PAGE_ROWS)), include_embedding=include_embedding),
                    agent_id, table)
                left -= len(page)
                if page:
                    yield page
                    del page  # the consumer drops it once written: so does this generator
                if below is None:
                    return

        return batches()

    async def update_memory(self, agent_id: str, memory_id: str, patch: dict[str, Any]) -> None:
        self.agents.require_running(agent_id)
        # Every turn reads a memory's content as an object: anything else would break them.
        for key in ("content", "metadata"):
            if key in patch and not isinstance(patch[key], dict):
                raise BadRequest(f"{key} must be an object",
                                 details={"field": key, "problem": "must be an object"})
        updated = await self.store.write(mq.update_memory, agent_id, memory_id, patch)
        if updated is None:
            raise BadRequest("roomId names no room",
                             details={"field": "roomId", "problem": "names no room"})
        if not updated:
            raise NotFound("Memory not found")
        runtime = self.agents.runtime(agent_id)
        if runtime is not None and runtime.embeddings is not None:
            # An edited text is owed a new vector (a worker running the agent elsewhere
            # finds it queued in the store on its next look).
            runtime.embeddings.wake()

    async def clear_memories(self, agent_id: str) -> int:
        self.agents.require_running(agent_id)
        return await self.store.write(mq.delete_all_memories, agent_id)

    async def clear_room_memories(self, agent_id: str, room_id: str) -> None:
        self.agents.require_running(agent_id)
        await self.store.write(mq.delete_room_memories_of_types, agent_id, room_id,
                               ROOM_CLEAR_TYPES)

    async def delete_memory(self, agent_id: str, memory_id: str) -> None:
        self.agents.require_running(agent_id)
        if not await self.store.write(am.delete_memory, agent_id, memory_id):
            raise NotFound("Memory not found")

    # -- rooms ----------------------------------------------------------------------------

    async def create_room(self, agent_id: str, *, room_id: str, name: str, source: str,
                          type_: str, server_id: str, world_id: str | None,
                          metadata: dict[str, Any], channel_id: Any) -> dict[str, Any]:
        """Store a room of the agent (and its world), with the agent FOLLOWING it."""
        self.agents.require_running(agent_id)
        now = now_ms()
        room = {
            "id": room_id, "agent_id": agent_id, "source": source, "type": type_,
            "server_id": server_id,
            "world_id": world_id or ids.create_unique_uuid(agent_id, server_id),
            "name": name, "metadata": metadata, "channel_id": channel_id, "created_at": now,
        }
        return await self.store.write(_store_room, room)

    async def list_rooms(self, agent_id: str) -> list[dict[str, Any]]:
        self.agents.require_running(agent_id)
        return await self.store.read(mq.list_rooms, agent_id)

    async def get_room(self, agent_id: str, room_id: str) -> dict[str, Any]:
        self.agents.require_running(agent_id)
        room = await self.store.read(mq.get_room, agent_id, room_id)
        if room is None:
            raise NotFound("Room not found")
        return room

    # -- group memory spaces ------------------------------------------------------------------

    def running_agents(self) -> list[str]:
        return [runtime.agent_id for runtime in self.agents.runtimes()]

    async def delete_group(self, server_id: str) -> None:
        await self.store.write(mq.delete_rooms_by_world, self._group_worlds(server_id))

    async def clear_group_memories(self, server_id: str) -> None:
        await self.store.write(mq.delete_world_messages, self._group_worlds(server_id))

    def _group_worlds(self, server_id: str) -> list[str]:
        """The world `server_id` itself (as the original reads it) and every agent's world
        of that message server (`createUniqueUuid(agent, serverId)`, as agents name it)."""
        return [server_id, *(ids.create_unique_uuid(agent_id, server_id)
                             for agent_id in self.agents.agent_ids())]

    # -- worlds ---------------------------------------------------------------------------

    async def list_worlds(self) -> list[dict[str, Any]]:
        """The worlds of the running agents."""
        running = self.running_agents()
        if not running:
            raise AgentNotFound("No active agents found to get worlds")
        return await self.store.read(mq.worlds_of, running)

    async def create_world(self, agent_id: str, world: dict[str, Any]) -> dict[str, Any]:
        """Create the world for the agent, or return it when the agent already has it."""
        self.agents.require_running(agent_id)

        def create(db: Transaction) -> dict[str, Any] | None:
            existing = mq.get_world(db, world["id"])
            if existing is not None:
                return existing if existing["agentId"] == agent_id else None
            mq.insert_world(db, world)
            return mq.get_world(db, world["id"])

        stored = await self.store.write(create)
        if stored is None:
            raise Conflict("That world belongs to another agent")
        return stored

    async def update_world(self, agent_id: str, world_id: str, *, name: str | None,
                           metadata: dict[str, Any], settings: dict[str, Any]
                           ) -> dict[str, Any]:
        """Rename; shallow-merge `metadata`, and `settings` into `metadata.settings`."""
        self.agents.require_running(agent_id)

        def update(db: Transaction) -> dict[str, Any] | None:
            world = mq.get_world(db, world_id)
            if world is None or world["agentId"] != agent_id:
                return None
            merged = {**world["metadata"], **metadata}
            if settings:
                old = merged.get("settings")
                merged["settings"] = {**(old if isinstance(old, dict) else {}), **settings}
            mq.update_world(db, world_id, name, merged)
            return mq.get_world(db, world_id)

        world = await self.store.write(update)
        if world is None:
            raise NotFound("World not found")
        return world


def _store_room(db: Transaction, room: dict[str, Any]) -> dict[str, Any]:
    agent_id, room_id, server_id = room["agent_id"], room["id"], room["server_id"]
    mq.insert_world(db, {"id": room["world_id"], "agentId": agent_id,
                         "name": f"World {server_id[:8]}", "serverId": server_id,
                         "metadata": {}, "createdAt": room["created_at"]})
    mq.upsert_room(db, room)
    mq.follow_room(db, ids.create_unique_uuid(agent_id, f"{agent_id}:{room_id}"), agent_id,
                   room_id, room["created_at"])
    stored = mq.get_room(db, agent_id, room_id)
    assert stored is not None  # written just above, in this transaction
    return stored


__all__ = ["ROOM_CLEAR_TYPES", "MemoryService"]
