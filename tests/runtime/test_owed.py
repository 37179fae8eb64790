"""What an agent owes is kept in the store until it is answered: an inbox that overflows
loses nothing (the agent reads what it owes from the store), and on start what it owes past
the bounds (age, count) is given up with a reason in its logs, never in silence."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import trio

import eliza.runtime.agent as agent_module
from conftest import make_settings, open_app
from eliza import ModelType, hookimpl
from eliza.plugins import make_plugin_manager
from eliza.runtime.agent import AgentRuntime
from eliza.server import AgentServer

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


def _answered(listing: list[dict[str, Any]]) -> list[str]:
    return [m["inReplyToRootMessageId"] for m in reversed(listing)
            if m["sourceType"] == "agent_response"]


async def test_an_inbox_that_overflows_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(agent_module, "INBOX_CAPACITY", 4)
    model = GatedModel()
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    server = AgentServer(settings, make_plugin_manager(allow=[], extra=[("gated", model)]))
    async with open_app(settings, server) as app:
        client = app.test_client()
        agent_id = await _agent(client, "Gated", ["gated"])
        dm = await create_channel(client, [USER_ID, agent_id], type_="DM")
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
