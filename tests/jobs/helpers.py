"""Jobs test helpers: the default agent, a user, creating a job and polling it to its end,
and models that make an agent slow or fail (for timeouts and failed turns)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from conftest import make_settings, open_app
from eliza import ModelType, hookimpl, ids
from eliza.plugins import make_plugin_manager
from eliza.runtime.agent import AgentRuntime
from eliza.runtime.doctor import Doctor
from eliza.server import AgentServer
from tests.polling import wait_until

BASE = "/api/messaging/jobs"
ELIZA_ID = ids.string_to_uuid("Eliza")
USER_ID = "5d8c9a1e-1b2c-4d3e-8f90-123456789abc"


def eliza_answer(text: str) -> str:
    """The built-in ELIZA model's first answer in a new room (each job has its own)."""
    return Doctor().reply(text)


async def create_job(client: Any, **body: Any) -> dict[str, Any]:
    response = await client.post(BASE, json={"userId": USER_ID, **body})
    answer: dict[str, Any] = await response.get_json()
    assert response.status_code == 201, answer
    return answer


async def job_state(client: Any, job_id: str) -> dict[str, Any]:
    response = await client.get(f"{BASE}/{job_id}")
    answer: dict[str, Any] = await response.get_json()
    assert response.status_code == 200, answer
    return answer


async def ended(client: Any, job_id: str, within: float = 15.0) -> dict[str, Any]:
    """Poll the job, as the api-client does, until it is no longer processing."""
    async def done() -> dict[str, Any] | None:
        job = await job_state(client, job_id)
        return job if job["status"] != "processing" else None

    return await wait_until(done, within=within, interval=0.05,
                            message=f"job {job_id} to end")


class SlowModel:
    """A TEXT_LARGE model that answers only once its gate is open, or fails when told to."""

    def __init__(self) -> None:
        self.gate = trio.Event()
        self.failure: str | None = None

    async def reply(self, runtime: AgentRuntime, params: dict[str, Any]) -> str:
        if self.failure is not None:
            raise RuntimeError(self.failure)
        await self.gate.wait()
        return f"noted: {params['message']}"

    @hookimpl
    def register_models(self, server: AgentServer) -> dict[ModelType, Any]:
        return {ModelType.TEXT_LARGE: self.reply}


@asynccontextmanager
async def server_with_agent_on(tmp_path: Path, model: SlowModel
                               ) -> AsyncIterator[tuple[AgentServer, Any, str]]:
    """A server whose only agent runs on `model`: the server, its test client, the agent."""
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    server = AgentServer(settings, make_plugin_manager(allow=[], extra=[("slow", model)]))
    async with open_app(settings, server) as app:
        client = app.test_client()
        created = await client.post("/api/agents", json={"characterJson": {
            "name": "Slow", "bio": ["test"], "plugins": ["slow"]}})
        agent_id = str((await created.get_json())["data"]["id"])
        assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 200
        yield server, client, agent_id
