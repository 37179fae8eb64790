"""Crash and hang isolation: an agent whose model raises, one whose model (or turn) hangs past
its deadline, and one whose whole loop crashes. None of them affects another agent or the
server; the failure is recorded on the agent (GET /api/agents/:id `lastError`)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from conftest import make_settings, open_app
from eliza import hookimpl
from eliza.bus import Event, NewMessage
from eliza.plugins import make_plugin_manager
from eliza.runtime import agent as agent_module
from eliza.runtime import supervisor as supervisor_module
from eliza.runtime.agent import AgentRuntime
from eliza.runtime.models import ModelProvider, ModelType
from eliza.server import AgentServer
from tests.polling import idle_autojump_clock, wait_until

# Long enough for the healthy agents to answer a few turns on a busy 2-core machine on either
# store before the hanging model's first deadline; short enough to keep the tests quick.
MODEL_TIMEOUT = 1.5


class FaultyPlugin:
    """TEXT_LARGE that raises for one character and hangs for another."""

    @hookimpl
    def register_models(self, server: AgentServer) -> list[ModelProvider]:
        return [ModelProvider(ModelType.TEXT_LARGE, self.text, priority=10)]

    async def text(self, runtime: AgentRuntime, params: dict[str, Any]) -> str:
        mode = runtime.get_setting("FAULT")
        if mode == "raise":
            raise RuntimeError("model exploded")
        if mode == "hang":
            await trio.sleep_forever()
        return f"faulty plugin says {params['message']}"


@dataclass
class Harness:
    server: AgentServer
    client: Any
    ids: dict[str, str]
    replies: dict[str, list[str]]

    def publish(self, text: str) -> None:
        channel = str(uuid.uuid4())
        self.server.bus.publish(NewMessage({
            "id": str(uuid.uuid4()), "channel_id": channel,
            "message_server_id": "00000000-0000-0000-0000-000000000000",
            "author_id": str(uuid.uuid4()), "content": text, "raw_message": {},
            "source_type": "test",
        }))

    async def agent(self, name: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/agents/{self.ids[name]}")
        assert response.status_code == 200
        data: dict[str, Any] = (await response.get_json())["data"]
        return data

    def runtime(self, name: str) -> AgentRuntime:
        runtime = self.server.agents.runtime(self.ids[name])
        assert runtime is not None
        return runtime

    async def wait_turns(self, name: str, turns: int, within: float = 5.0) -> None:
        # Agents' progress has no event to wait on.
        await wait_until(lambda: self.runtime(name).stats.turns >= turns, within=within,
                         interval=0.01, message=f"{turns} turns of {name}")


@asynccontextmanager
async def open_harness(tmp_path: Path, **overrides: Any) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false").with_overrides(**overrides)
    server = AgentServer(settings, pm=make_plugin_manager(load_entrypoints=False,
                                                          extra=[("faulty", FaultyPlugin())]))
    replies: dict[str, list[str]] = defaultdict(list)

    async def turn(runtime: AgentRuntime, event: Event) -> None:
        assert isinstance(event, NewMessage)
        text = await runtime.generate(ModelType.TEXT_LARGE, {
            "message": event.message["content"], "roomId": event.channel_id})
        replies[runtime.name].append(text)

    server.agents.turn_handler = turn
    async with open_app(settings, server) as app:
        client = app.test_client()
        ids = {}
        for name, fault, plugins in (("Healthy", None, []), ("Crashy", "raise", ["faulty"]),
                                     ("Hangy", "hang", ["@elizaos/plugin-faulty"]),
                                     ("Fine", None, ["faulty"])):
            character = {"name": name, "plugins": plugins,
                         "settings": {"FAULT": fault} if fault else {}}
            response = await client.post("/api/agents", json={"characterJson": character})
            ids[name] = (await response.get_json())["data"]["id"]
            assert (await client.post(f"/api/agents/{ids[name]}/start")).status_code == 200
        yield Harness(server, client, ids, replies)


@pytest.fixture
def virtual_clock() -> MockClock:
    return idle_autojump_clock()


# Virtual time jumps whenever every task waits, and a query to PostgreSQL is such a wait (a
# worker thread on a socket): timeouts would fire mid-query. What these tests time does
# not depend on the store, so they run on SQLite, whose queries finish before time jumps.
virtual_time = pytest.mark.sqlite_only


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(tmp_path, model_timeout=MODEL_TIMEOUT, turn_timeout=5.0) as h:
        yield h


async def test_a_raising_or_hanging_model_affects_no_other_agent(harness: Harness) -> None:
    for i in range(3):
        harness.publish(f"I feel tired {i}")

    # The healthy agents answer everything before the hanging model's first deadline.
    with trio.fail_after(MODEL_TIMEOUT * 0.8):
        await wait_until(
            lambda: len(harness.replies["Healthy"]) == len(harness.replies["Fine"]) == 3,
            within=MODEL_TIMEOUT, interval=0.01)
        # The server keeps serving meanwhile.
        assert (await harness.client.get("/api/server/ping")).status_code == 200
        assert (await harness.client.get("/api/agents")).status_code == 200
    assert all(r and "faulty" not in r for r in harness.replies["Healthy"])  # the ELIZA model
    assert harness.replies["Fine"][0] == "faulty plugin says I feel tired 0"
    assert harness.runtime("Hangy").stats.turns == 0  # still stuck in its first turn

    await harness.wait_turns("Crashy", 3)
    await harness.wait_turns("Hangy", 3, within=MODEL_TIMEOUT * 3 + 2)
    assert "Crashy" not in harness.replies
    assert "Hangy" not in harness.replies

    crashy, hangy, healthy = [await harness.agent(n) for n in ("Crashy", "Hangy", "Healthy")]
    assert crashy["status"] == hangy["status"] == healthy["status"] == "active"
    assert crashy["lastError"] == "RuntimeError: model exploded"
    assert "TEXT_LARGE" in hangy["lastError"]
    assert f"{MODEL_TIMEOUT} s" in hangy["lastError"]
    assert "lastError" not in healthy
    assert harness.runtime("Crashy").stats.failures == 3

    # The failing agents keep taking turns; the others keep answering.
    harness.publish("again")
    await harness.wait_turns("Crashy", 4)
    await wait_until(lambda: len(harness.replies["Healthy"]) >= 4, within=2)
    status = await (await harness.client.get("/api/server/status")).get_json()
    assert status["agentCount"] == 4
    assert (await harness.client.get("/api/server/health")).status_code == 200


async def test_a_turn_hanging_past_the_turn_deadline_is_cut_off(tmp_path: Path) -> None:
    # No model deadline: only the turn deadline stops the hanging model.
    async with open_harness(tmp_path, model_timeout=0, turn_timeout=0.3) as harness:
        harness.publish("hello")
        await wait_until(lambda: len(harness.replies["Healthy"]) >= 1, within=0.25,
                         interval=0.01)
        await harness.wait_turns("Hangy", 1, within=2)
        hangy = await harness.agent("Hangy")
        assert hangy["status"] == "active"
        assert hangy["lastError"] == "turn took over 0.3 s"
        harness.publish("still there?")
        await wait_until(lambda: len(harness.replies["Healthy"]) >= 2, within=1)


@virtual_time
async def test_a_crashing_agent_loop_is_restarted_then_quarantined(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, virtual_clock: MockClock
) -> None:
    # Virtual time: the restart backoff (1 s) passes once everything waits on it.
    monkeypatch.setattr(supervisor_module, "MAX_CRASHES", 2)
    real_run = agent_module.AgentRuntime.run
    runs: list[str] = []

    async def run(self: AgentRuntime) -> None:
        if self.name == "Crashy":
            runs.append(self.name)
            await trio.sleep(0.01)
            raise RuntimeError(f"loop crash {len(runs)}")
        await real_run(self)

    monkeypatch.setattr(agent_module.AgentRuntime, "run", run)
    crashy_id = harness.ids["Crashy"]
    # Restart Crashy so its loop is the crashing one.
    await harness.client.post(f"/api/agents/{crashy_id}/stop")
    await harness.client.post(f"/api/agents/{crashy_id}/start")

    with trio.fail_after(5):
        while harness.server.agents.status(crashy_id) != "error":
            harness.publish("ping")  # the others keep answering meanwhile
            await trio.sleep(0.25)  # few polls: each costs the clock's 50 ms idle wait
    assert len(runs) == 2  # crashed, restarted after a backoff, crashed again: quarantined

    crashy = await harness.agent("Crashy")
    assert crashy["status"] == "error"
    assert crashy["lastError"] == "RuntimeError: loop crash 2"
    listing = (await (await harness.client.get("/api/agents")).get_json())["data"]["agents"]
    assert {a["name"]: a["status"] for a in listing} == {
        "Crashy": "error", "Healthy": "active", "Hangy": "active", "Fine": "active"}
    assert len(harness.replies["Healthy"]) >= 2
    assert (await harness.client.get("/api/server/ping")).status_code == 200

    # A quarantined agent can be started again by hand (here it is fixed meanwhile).
    monkeypatch.setattr(agent_module.AgentRuntime, "run", real_run)
    response = await harness.client.post(f"/api/agents/{crashy_id}/start")
    assert (await response.get_json())["data"]["status"] == "active"
    assert (await harness.agent("Crashy"))["status"] == "active"


async def test_stopping_a_busy_agent_finishes_only_the_turn_in_progress(harness: Harness) -> None:
    for i in range(6):
        harness.publish(f"backlog {i}")
    # Every agent got all six at once; once Healthy answered them, Hangy has long been
    # stuck in its first turn with five more queued.
    await wait_until(lambda: len(harness.replies["Healthy"]) == 6, within=MODEL_TIMEOUT * 0.8)
    hangy = harness.runtime("Hangy")
    started = trio.current_time()
    response = await harness.client.post(f"/api/agents/{harness.ids['Hangy']}/stop")
    assert response.status_code == 200
    # Its turn in progress ends at the model deadline; the backlog is not worked through.
    assert trio.current_time() - started < MODEL_TIMEOUT + 0.5
    assert hangy.stats.turns <= 1  # (the one in progress counts when it ends, not if cut)
    assert (await harness.agent("Hangy"))["status"] == "inactive"
