"""What an agent owes is kept in the store until it is answered: an inbox that overflows
loses nothing (the agent reads what it owes from the store), and on start what it owes past
the bounds (age, count) is given up with a reason in its logs, never in silence."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

import eliza.runtime.agent as agent_module
from conftest import make_settings, open_app
from eliza import ModelType, hookimpl
from eliza.errors import DatabaseUnavailable
from eliza.plugins import make_plugin_manager
from eliza.runtime.agent import AgentRuntime
from eliza.server import AgentServer
from tests.polling import wait_until

from ..messaging.helpers import USER_ID, create_channel, messages, post, replies


class GatedModel:
    """A TEXT_LARGE model that answers only once its gate is open (a slow agent)."""

    def __init__(self) -> None:
        self.gate = trio.Event()
        self.calls = 0

    async def reply(self, runtime: AgentRuntime, params: dict[str, Any]) -> str:
        self.calls += 1
        await self.gate.wait()
        return f"noted: {params['message']}"

    @hookimpl
    def register_models(self, server: AgentServer) -> dict[ModelType, Any]:
        return {ModelType.TEXT_LARGE: self.reply}


async def _agent(client: Any, name: str, plugins: list[str]) -> str:
    created = await client.post("/api/agents", json={"characterJson": {
        "name": name, "bio": ["test"], "plugins": plugins}})
    agent_id = str((await created.get_json())["data"]["id"])
    assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 200
    return agent_id


@asynccontextmanager
async def _dm_with_gated_agent(
    tmp_path: Path, model: GatedModel
) -> AsyncIterator[tuple[AgentServer, Any, dict[str, Any]]]:
    """A server with one agent on `model` (no default agent), its test client, and a DM
    of the test user with the agent."""
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    server = AgentServer(settings, make_plugin_manager(allow=[], extra=[("gated", model)]))
    async with open_app(settings, server) as app:
        client = app.test_client()
        agent_id = await _agent(client, "Gated", ["gated"])
        yield server, client, await create_channel(client, [USER_ID, agent_id], type_="DM")


def _answered(listing: list[dict[str, Any]]) -> list[str]:
    return [m["inReplyToRootMessageId"] for m in reversed(listing)
            if m["sourceType"] == "agent_response"]


async def test_an_inbox_that_overflows_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(agent_module, "INBOX_CAPACITY", 4)
    model = GatedModel()
    async with _dm_with_gated_agent(tmp_path, model) as (_, client, dm):
        sent = [await post(client, dm["id"], f"message {i}") for i in range(20)]
        assert model.calls == 1  # busy with the first; 19 more arrived for a 4-event inbox
        model.gate.set()
        await replies(client, dm["id"], 20, within=30)
        listing = await messages(client, dm["id"])
    assert _answered(listing) == [m["id"] for m in sent]  # each once, in order
    assert any("fell behind its inbox" in r.getMessage() for r in caplog.records)


async def test_what_is_owed_past_the_bounds_is_given_up_with_a_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false", ELIZA_OWED_MAX_COUNT="2")
    async with open_app(settings) as app:
        client = app.test_client()
        agent_id = await _agent(client, "Bounded", [])
        dm = await create_channel(client, [USER_ID, agent_id], type_="DM")
        assert (await client.post(f"/api/agents/{agent_id}/stop")).status_code == 200
        sent = [await post(client, dm["id"], f"while stopped {i}") for i in range(5)]
        with caplog.at_level(logging.WARNING):
            assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 200
            await replies(client, dm["id"], 2)
        logs = await client.get(f"/api/agents/{agent_id}/logs",
                                query_string={"type": "owed_message_dropped", "count": 10})
        dropped = (await logs.get_json())["data"]
        # A last message proves the agent is past its start: nothing more comes of the five.
        last = await post(client, dm["id"], "and now")
        await replies(client, dm["id"], 3)
        listing = await messages(client, dm["id"])
    assert _answered(listing) == [sent[3]["id"], sent[4]["id"], last["id"]]
    assert sorted(row["body"]["messageId"] for row in dropped) == sorted(
        m["id"] for m in sent[:3])
    assert {row["body"]["reason"] for row in dropped} == {"beyond the count bound"}
    assert any("gave up 3 owed message(s)" in r.getMessage() for r in caplog.records)


async def test_a_turn_cut_by_a_database_outage_stays_owed_and_is_answered_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = GatedModel()
    async with _dm_with_gated_agent(tmp_path, model) as (server, client, dm):
        sent = await post(client, dm["id"], "during the outage")
        await wait_until(lambda: model.calls == 1, message="the turn generating its reply")
        # The connection drops under the write that stores the reply; the database is back
        # for the next one (the failed run's record), as after a short outage.
        write = server.store.write
        failed: list[str] = []

        async def drops_once(fn: Any, *args: Any) -> Any:
            if not failed:
                failed.append(getattr(fn, "__name__", repr(fn)))
                raise DatabaseUnavailable("The database is unavailable: test; retry shortly")
            return await write(fn, *args)

        monkeypatch.setattr(server.store, "write", drops_once)
        model.gate.set()
        await replies(client, dm["id"], 1, within=10)
        await trio.sleep(0.5)  # a second reply, were there one, lands by now
        listing = await messages(client, dm["id"])
    assert failed  # the outage did hit the turn
    assert _answered(listing) == [sent["id"]]  # answered after all, and once
    assert model.calls == 2
    assert any("could not reach the database during a turn" in r.getMessage()
               for r in caplog.records)
