"""An agent's turn from its collaborators alone: a messaging service and an agent runtime
built on a SQLite store and an in-process bus, with no app and no AgentServer. This is what
the constructor seams buy: each part can be built, and tested, on its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from conftest import make_settings
from eliza import ids
from eliza.bus import InProcessBus
from eliza.clock import now_ms
from eliza.errors import AgentNotFound, NotFound
from eliza.messaging import MessagingService
from eliza.runtime.agent import AgentRuntime
from eliza.runtime.models import ModelProvider, ModelRegistry, ModelType
from eliza.runtime.pipeline import handle_event
from eliza.store import Store, core_migrations, store_for
from eliza.store import agents as agent_rows
from eliza.store.memory_queries import list_memories

USER = "11111111-1111-4111-8111-111111111111"
AGENT = "22222222-2222-4222-8222-222222222222"


@dataclass
class Directory:
    """The agents this test knows: the `AgentDirectory` the runtime and messaging need."""

    running: dict[str, AgentRuntime] = field(default_factory=dict)

    def get(self, agent_id: str) -> agent_rows.AgentRecord:
        if agent_id != AGENT:
            raise AgentNotFound("Agent not found")
        return agent_rows.AgentRecord(AGENT, {"name": "Solo"}, True, True, 0, 0)

    def is_agent(self, entity_id: str) -> bool:
        return entity_id == AGENT

    def agent_ids(self) -> list[str]:
        return [AGENT]

    def runtime(self, agent_id: str) -> AgentRuntime | None:
        return self.running.get(agent_id)

    def require_runtime(self, agent_id: str) -> AgentRuntime:
        runtime = self.runtime(agent_id)
        if runtime is None:
            raise NotFound("Agent is not running", code="AGENT_NOT_RUNNING")
        return runtime

    def runtimes(self) -> list[AgentRuntime]:
        return list(self.running.values())

    def is_running(self, agent_id: str) -> bool:
        return agent_id in self.running

    def require_running(self, agent_id: str) -> None:
        self.require_runtime(agent_id)

    def runtime_here(self, agent_id: str) -> AgentRuntime | None:
        return self.runtime(agent_id)

    def opened_character(self, agent_id: str) -> dict[str, Any]:
        return self.require_runtime(agent_id).character


async def shout(runtime: AgentRuntime, params: dict[str, Any]) -> str:
    return str(params["message"]).upper() + "!"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = store_for(make_settings(tmp_path))
    await store.open([core_migrations])
    record = agent_rows.AgentRecord(AGENT, {"name": "Solo"}, True, True, now_ms(), now_ms())

    def add_agent(db: Any) -> None:
        agent_rows.save_agent(db, record)
        agent_rows.add_agent_to_server(db, ids.DEFAULT_SERVER_ID, AGENT)

    await store.write(add_agent)
    yield store
    store.close()


async def test_one_turn_without_app_or_server(tmp_path: Path, store: Store) -> None:
    settings = make_settings(tmp_path)
    bus = InProcessBus()
    agents = Directory()
    messaging = MessagingService(store, bus, settings, agents)
    runtime = AgentRuntime(
        AGENT, {"name": "Solo", "bio": ["Shouts."]},
        ModelRegistry([ModelProvider(ModelType.TEXT_LARGE, shout)]), frozenset(),
        store=store, bus=bus, replies=messaging, agents=agents, settings=settings,
        turn_handler=handle_event,
    )
    agents.running[AGENT] = runtime
    channel = await messaging.create_channel(name="solo", type="DM",
                                             participants=[USER, AGENT])
    async with trio.open_nursery() as nursery:
        runtime.open_inbox()
        nursery.start_soon(runtime.run)
        posted = await messaging.post_message(channel_id=channel["id"], author_id=USER,
                                              content="hello there")
        reply = await messaging.wait_for_reply(channel["id"], posted.message["id"], within=10,
                                               author_id=AGENT)
        runtime.close_inbox()
    assert reply is not None
    assert reply["content"] == "HELLO THERE!"
    # The turn left what a full server's turn leaves: the reply stored in the channel, and
    # the agent's memories of both messages.
    listed = await messaging.list_messages(channel["id"])
    assert [m["content"] for m in listed] == ["HELLO THERE!", "hello there"]
    assert runtime.stats.turns == 1
    assert runtime.stats.failures == 0
    memories = await store.read(list_memories, AGENT, "messages", None, False)
    assert sorted(m["content"]["text"] for m in memories) == ["HELLO THERE!", "hello there"]
