"""An agent that starts while the database is unreachable (after a lost lease, say) waits the
outage out: it is no crash of the agent (no traceback, no step towards quarantine), with or
without an embedding model, and it answers once the database is back."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
import trio

import eliza.store.vectors as vectors_module
from conftest import make_settings, open_app
from eliza import ModelType, hookimpl
from eliza.errors import DatabaseUnavailable
from eliza.plugins import make_plugin_manager
from eliza.runtime.agent import AgentRuntime
from eliza.server import AgentServer

from ..messaging.helpers import USER_ID, create_channel, messages, post, replies

OUTAGE = 1.5  # seconds: past the supervisor's first restart backoff (0.5 s)


class Embedder:
    """A TEXT_EMBEDDING model: the agent that has it runs an embedding indexer."""

    @hookimpl
    def register_models(self, server: AgentServer) -> dict[ModelType, Any]:
        return {ModelType.TEXT_EMBEDDING: self.embed}

    async def embed(self, runtime: AgentRuntime, params: dict[str, Any]) -> list[float]:
        return [float(len(params["text"]) % 7 + 1), 1.0, 0.5, 0.25]


def _unreachable_until(deadline: float, fn: Any) -> Any:
    def failing(*args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < deadline:  # called in the store's thread
            raise DatabaseUnavailable("The database is unavailable: test; retry shortly")
        return fn(*args, **kwargs)
    return failing


async def test_an_agent_started_during_an_outage_waits_for_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    server = AgentServer(settings, make_plugin_manager(allow=[], extra=[("embedder", Embedder())]))
    async with open_app(settings, server) as app:
        # (PostgreSQL here has no pgvector: there only the agent's release of its vectors
        # meets the outage; the indexer's part is held on SQLite with sqlite-vec.)
        assert server.store.vectors or server.store.dialect == "postgresql"
        client = app.test_client()
        created = {}
        for name, plugins in (("Plain", []), ("Indexed", ["embedder"])):
            answer = await client.post("/api/agents", json={"characterJson": {
                "name": name, "bio": ["test"], "plugins": plugins}})
            created[name] = str((await answer.get_json())["data"]["id"])
        # What an agent reads and writes first about its vectors fails as in an outage
        # (the routes' own reads still work, so the agents can be started).
        deadline = time.monotonic() + OUTAGE
        for name in ("is_enrolled", "enroll", "next_batch"):
            monkeypatch.setattr(vectors_module, name,
                                _unreachable_until(deadline, getattr(vectors_module, name)))
        with caplog.at_level(logging.INFO):
            for agent_id in created.values():
                started = await client.post(f"/api/agents/{agent_id}/start")
                assert started.status_code == 200, await started.get_data(as_text=True)
            await trio.sleep(deadline - time.monotonic() + 0.5)
            for name, agent_id in created.items():
                dm = await create_channel(client, [USER_ID, agent_id], type_="DM")
                sent = await post(client, dm["id"], f"hello {name}")
                await replies(client, dm["id"], 1, within=10)
                listing = await messages(client, dm["id"])
                assert [m["inReplyToRootMessageId"] for m in listing
                        if m["sourceType"] == "agent_response"] == [sent["id"]]
        crashes = [r.getMessage() for r in caplog.records if "crashed" in r.getMessage()]
        assert crashes == []
        assert not server.agents.supervisor.quarantined
        for agent_id in created.values():
            running = server.agents.supervisor.running[agent_id]
            assert running.crashes == []
            assert running.runtime.stats.last_error is None
