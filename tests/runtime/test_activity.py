"""What an agent does reaches the logs, and a turn that cannot answer reaches the person
chatting: the server log (by agent name, as the web UI's Logs views read it) tells each step
of a turn; the model call's log row carries its parameters with the character's secrets
masked; a failed turn answers the waiting HTTP transports with AGENT_ERROR and its reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from conftest import make_settings, open_app
from eliza import ModelType, hookimpl
from eliza.plugins import make_plugin_manager
from eliza.runtime.agent import AgentRuntime
from eliza.server import AgentServer
from tests.polling import wait_until

from ..messaging.helpers import USER_ID, create_channel, post, send_json
from ..sessions.conftest import parse_sse

SECRET = "tok-very-secret-123"


class Models:
    """`echo` answers what it was told; `broken` fails as a provider would."""

    async def echo(self, runtime: AgentRuntime, params: dict[str, Any]) -> str:
        return f"you said: {params['message']}"

    async def broken(self, runtime: AgentRuntime, params: dict[str, Any]) -> str:
        raise RuntimeError(f"provider refused the key {SECRET}")

    @hookimpl
    def register_models(self, server: AgentServer) -> dict[ModelType, Any]:
        return {ModelType.TEXT_LARGE: self.echo}


class BrokenModels(Models):
    @hookimpl
    def register_models(self, server: AgentServer) -> dict[ModelType, Any]:
        return {ModelType.TEXT_LARGE: self.broken}


@asynccontextmanager
async def _client(tmp_path: Path) -> AsyncIterator[Any]:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    plugins = [("echo", Models()), ("broken", BrokenModels())]
    server = AgentServer(settings, make_plugin_manager(allow=[], extra=plugins))
    async with open_app(settings, server) as app:
        yield app.test_client()


async def _agent(client: Any, name: str, plugin: str) -> str:
    created = await send_json(client, "post", "/api/agents", {"characterJson": {
        "name": name, "bio": ["test"], "plugins": [plugin],
        "settings": {"secrets": {"API_TOKEN": SECRET}}}}, 201)
    agent_id = str(created["data"]["id"])
    await send_json(client, "post", f"/api/agents/{agent_id}/start")
    return agent_id


async def _server_log(client: Any, agent: str) -> list[str]:
    answer = await client.get("/api/server/logs", query_string={"agentName": agent})
    return [entry["msg"] for entry in (await answer.get_json())["logs"]]


async def test_a_turn_is_told_step_by_step_in_the_agents_log(tmp_path: Path) -> None:
    async with _client(tmp_path) as client:
        agent_id = await _agent(client, "Keeper", "echo")
        dm = await create_channel(client, [USER_ID, agent_id], type_="DM", name="notes")
        await post(client, dm["id"], f"remember {SECRET} for me")

        async def told() -> list[str] | None:
            lines = await _server_log(client, "Keeper")
            return lines if any(" run " in line and "completed" in line
                                for line in lines) else None

        lines = await wait_until(told, message="the turn's end in the log")
        text = "\n".join(lines)
        for step in ("Keeper received a message from", "in notes: remember ******** for me",
                     "Keeper will respond", "Keeper started run",
                     "Keeper used model TEXT_LARGE (echo)", "Keeper replied in notes"):
            assert step in text, f"{step!r} not in the log:\n{text}"
        assert SECRET not in text

        rows = (await send_json(client, "get", f"/api/agents/{agent_id}/logs"))["data"]
        model_call = next(r for r in rows if r["type"] == "useModel:TEXT_LARGE")
        params = model_call["body"]["params"]
        assert params["message"] == "remember ******** for me"
        assert params["roomId"] == model_call["roomId"]
        assert SECRET not in str(model_call["body"])
        assert model_call["body"]["response"] == "you said: remember ******** for me"


async def test_an_agent_that_cannot_answer_says_why_to_the_waiting_client(
        tmp_path: Path) -> None:
    async with _client(tmp_path) as client:
        agent_id = await _agent(client, "Broken", "broken")
        dm = await create_channel(client, [USER_ID, agent_id], type_="DM")
        answer = await send_json(client, "post", f"/api/messaging/channels/{dm['id']}/messages",
                                 {"author_id": USER_ID, "content": "hello?",
                                  "transport": "http"}, 201)
        assert answer["agentResponse"] is None
        assert answer["agentError"]["code"] == "AGENT_ERROR"
        reason = answer["agentResponseReason"]
        assert reason == answer["agentError"]["message"]
        assert "Broken could not answer: RuntimeError: provider refused the key" in reason
        assert SECRET not in reason  # masked: ********

        session = await send_json(client, "post", "/api/messaging/sessions",
                                  {"agentId": agent_id, "userId": USER_ID}, 201)
        path = f"/api/messaging/sessions/{session['sessionId']}/messages"
        sent = await send_json(client, "post", path, {"content": "anyone?",
                                                      "transport": "http"}, 201)
        assert sent["agentResponse"] is None
        assert sent["agentError"]["code"] == "AGENT_ERROR"
        streamed = await client.post(path, json={"content": "still?", "transport": "sse"})
        events = parse_sse(await streamed.get_data(as_text=True))
        assert [name for name, _ in events] == ["user_message", "error"]
        assert events[1][1]["code"] == "AGENT_ERROR"
        assert "provider refused" in events[1][1]["error"]

        lines = await _server_log(client, "Broken")
        assert any("run" in line and "error" in line for line in lines), lines
