"""One memory created or read through the API, and an agent's memories exported to and
imported from the `eliza-memories` document (format in docs/api.md).

Ids on import: into the agent the document was exported from, every id is kept; into
another agent, the ids of memories, rooms and worlds become `createUniqueUuid(target,
id)`, so they never collide with the source agent's rows and importing the same document
again finds them and adds nothing. Entity ids are kept (an entity is the same person or
agent whoever remembers it). Vectors are not carried: the target embeds the imported
memories itself when it has an embedding model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import ids
from ..clock import now_ms
from ..errors import BadRequest, Conflict, NotFound
from ..store import memory_transfer as mt

if TYPE_CHECKING:
    from ..runtime.ports import AgentDirectory
    from ..store import Store, Transaction

FORMAT = "eliza-memories"
VERSION = 1


def _wake_embeddings(agents: AgentDirectory, agent_id: str) -> None:
    runtime = agents.runtime(agent_id)
    if runtime is not None and runtime.embeddings is not None:
        # New texts are owed vectors (a worker running the agent elsewhere finds them
        # queued in the store on its next look).
        runtime.embeddings.wake()


async def get_memory(store: Store, agents: AgentDirectory, agent_id: str, memory_id: str,
                     include_embedding: bool) -> dict[str, Any]:
    agents.require_running(agent_id)
    memory = await store.read(mt.get_memory, agent_id, memory_id, include_embedding)
    if memory is None:
        raise NotFound("Memory not found")
    return memory


@dataclass(frozen=True)
class NewMemory:
    """A memory a client asks to create (fields already checked)."""

    content: dict[str, Any]
    type: str = "messages"
    room_id: str | None = None
    entity_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    memory_id: str | None = None
    created_at: int | None = None
    unique: bool = True


async def create_memory(store: Store, agents: AgentDirectory, agent_id: str,
                        new: NewMemory) -> dict[str, Any]:
    """Store the memory in one of the agent's rooms (its world comes from the room); the
    author is the agent itself unless `entity_id` says otherwise."""
    agents.require_running(agent_id)
    memory = {
        "id": new.memory_id or ids.new_uuid(), "type": new.type, "agent_id": agent_id,
        "created_at": now_ms() if new.created_at is None else new.created_at,
        "content": new.content, "entity_id": new.entity_id or agent_id,
        "room_id": new.room_id, "world_id": None, "unique": new.unique,
        "metadata": new.metadata,
    }

    def write(db: Transaction) -> dict[str, Any]:
        if new.room_id is not None:
            mine, memory["world_id"] = mt.room_world(db, agent_id, new.room_id)
            if not mine:
                raise BadRequest("roomId names no room of this agent",
                                 details={"field": "roomId", "problem": "names no room of "
                                          "this agent (create it with POST .../rooms)"})
        created = mt.create_memory(db, memory)
        if created is None:
            raise Conflict("A memory with this id already exists",
                           details={"field": "id", "problem": "is taken"})
        return created

    created = await store.write(write)
    _wake_embeddings(agents, agent_id)
    return created


# -- export ---------------------------------------------------------------------------------


def cursor_text(key: tuple[int, int]) -> str:
    return f"{key[0]}:{key[1]}"


def parse_cursor(text: str) -> tuple[int, int] | None:
    """An `after` cursor from a previous export part; None when it is not one."""
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) <= 19 for p in parts):
        return None
    return int(parts[0]), int(parts[1])


@dataclass
class Export:
    """One part of an agent's export: the document's fields before its memories, and the
    memories read a page at a time (`batches`) after the key `after` while they fit in
    `budget` bytes. `next` (known once the batches are done) is where the next part starts,
    None when this part reaches the last memory."""

    store: Store
    head: dict[str, Any]
    after: tuple[int, int] | None
    budget: int = 0
    next: str | None = None

    def document(self, memories: list[Any]) -> dict[str, Any]:
        return {**self.head, "memories": memories, "truncated": self.next is not None,
                "next": self.next}

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        key, left, first = self.after, self.budget, True
        while True:
            page = await self.store.read(mt.export_page, self.head["agentId"], key, left,
                                         first)
            if page.memories:
                first, left, key = False, left - page.size, page.key
                yield page.memories
            if page.full:
                assert key is not None  # a full page stopped after a memory it kept
                self.next = cursor_text(key)
                return
            if len(page.memories) < mt.EXPORT_PAGE_ROWS:
                return


async def export(store: Store, agents: AgentDirectory, agent_id: str, *,
                 after: tuple[int, int] | None, max_bytes: int,
                 json_size: Callable[[Any], int]) -> Export:
    """The export part starting after `after`, its JSON text at most `max_bytes` (but
    always at least one memory, when one is left). `json_size(value)` is the byte size of
    a value as the answer encodes it."""
    agents.require_running(agent_id)
    context = await store.read(mt.export_context, agent_id)
    head = {"format": FORMAT, "version": VERSION, "agentId": agent_id,
            "exportedAt": now_ms(), **context}
    part = Export(store, head, after)
    # 64: room for the longest `next` cursor a part can end with.
    part.budget = max_bytes - json_size({"success": True, "data": part.document([])}) - 64
    return part


# -- import ---------------------------------------------------------------------------------


def _mapper(source: str, target: str) -> Callable[[str | None], str | None]:
    if source == target:
        return lambda value: value
    return lambda value: None if value is None else ids.create_unique_uuid(target, value)


async def import_document(store: Store, agents: AgentDirectory, agent_id: str,
                          document: dict[str, Any]) -> dict[str, Any]:
    """Write a checked document's rows for the agent, in one transaction; a memory in a room
    the document does not describe is refused before anything is written."""
    agents.require_running(agent_id)
    new_id = _mapper(document["agentId"], agent_id)
    rooms = document.get("rooms") or []
    known_rooms = {room["id"] for room in rooms}
    for index, memory in enumerate(document["memories"]):
        if memory.get("roomId") is not None and memory["roomId"] not in known_rooms:
            raise BadRequest("A memory is in a room the document does not list", details={
                "field": f"memories[{index}].roomId", "problem": "names no room of `rooms`"})
    now = now_ms()
    worlds = [{"id": new_id(w["id"]), "agent_id": agent_id, "name": w["name"],
               "server_id": w.get("serverId") or ids.DEFAULT_SERVER_ID,
               "metadata": w.get("metadata") or {}, "created_at": w["createdAt"]}
              for w in document.get("worlds") or []]
    room_rows = [{"id": new_id(r["id"]), "agent_id": agent_id, "source": r["source"],
                  "type": r["type"], "server_id": r.get("serverId"),
                  "world_id": new_id(r.get("worldId")), "name": r.get("name"),
                  "metadata": r.get("metadata") or {}, "channel_id": r.get("channelId"),
                  "created_at": r["createdAt"]} for r in rooms]
    entities = [{"id": e["id"], "agent_id": agent_id, "names": e.get("names") or [],
                 "metadata": e.get("metadata") or {}, "created_at": e.get("createdAt", now)}
                for e in document.get("entities") or []]
    memories = [{"id": new_id(m["id"]), "type": m["type"], "created_at": m["createdAt"],
                 "content": m["content"], "entity_id": m.get("entityId"),
                 "agent_id": agent_id, "room_id": new_id(m.get("roomId")),
                 "world_id": new_id(m.get("worldId")), "unique": m.get("unique", True),
                 "metadata": m.get("metadata") or {}} for m in document["memories"]]
    done = await store.write(mt.import_rows, worlds, room_rows, entities, memories)
    _wake_embeddings(agents, agent_id)
    return {"imported": done.memories, "skipped": done.skipped, "worlds": done.worlds,
            "rooms": done.rooms, "entities": done.entities,
            "ids": "kept" if document["agentId"] == agent_id else "derived"}


__all__ = ["FORMAT", "VERSION", "Export", "NewMemory", "create_memory", "cursor_text",
           "export", "get_memory", "import_document", "parse_cursor"]
