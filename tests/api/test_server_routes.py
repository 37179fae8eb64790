"""`/api/server/*` and its alias `/api/runtime/*`: raw (un-enveloped) answers as the
original sends them, health 503 without running agents, log filters, and stop (fix 12)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from conftest import make_settings, open_app
from eliza import ids
from eliza.server import AgentServer
from tests.polling import idle_autojump_clock

LOCAL = {"client": ("127.0.0.1", 40000)}
REMOTE = {"client": ("10.0.0.5", 1234)}
JSON = {"Content-Type": "application/json"}
BOB = "b0b0b0b0-0000-4000-8000-000000000b0b"
ELIZA = ids.string_to_uuid("Eliza")


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("prefix", ["/api/server", "/api/runtime"])
async def test_ping_hello_status(client: Any, prefix: str) -> None:
    before = int(time.time() * 1000)
    ping = await (await client.get(f"{prefix}/ping")).get_json()
    assert ping["pong"] is True
    assert before - 1000 <= ping["timestamp"] <= before + 5000
    assert await (await client.get(f"{prefix}/hello")).get_json() == {"message": "Hello World!"}
    status = await (await client.get(f"{prefix}/status")).get_json()
    assert status["status"] == "ok"
    assert status["agentCount"] == 1
    iso(status["timestamp"])


@pytest.mark.parametrize("path", ["/api/server/health", "/api/runtime/health", "/health"])
async def test_health_is_503_without_running_agents(client: Any, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "OK"
    assert body["dependencies"] == {"agents": "healthy"}
    assert isinstance(body["version"], str)
    iso(body["timestamp"])

    # The agent still exists but is stopped: no running agents.
    assert (await client.post(f"/api/agents/{ELIZA}/stop")).status_code == 200
    response = await client.get(path)
    assert response.status_code == 503
    body = await response.get_json()
    assert body["dependencies"] == {"agents": "no_agents"}
    assert {"status", "version", "timestamp"} <= body.keys()

    # /healthz is the liveness probe: always fine.
    assert await (await client.get("/healthz")).get_json() == {"status": "ok"}


async def test_health_is_503_on_a_server_without_agents(tmp_path: Path) -> None:
    async with open_app(make_settings(tmp_path, ELIZA_DEFAULT_AGENT="off")) as app:
        response = await app.test_client().get("/api/server/health")
        assert response.status_code == 503


async def test_debug_servers_lists_the_default_message_server(client: Any) -> None:
    body = await (await client.get("/api/server/debug/servers")).get_json()
    assert body["success"] is True
    assert body["count"] == len(body["servers"]) >= 1
    assert ids.DEFAULT_SERVER_ID in str(body["servers"])


async def post_logs(client: Any, entries: list[dict[str, Any]]) -> None:
    response = await client.post("/api/server/logs", json={"logs": entries})
    assert response.status_code == 200


@pytest.mark.parametrize("prefix", ["/api/server", "/api/runtime"])
async def test_logs_filter_by_level_agent_since_and_limit(client: Any, prefix: str) -> None:
    now = int(time.time() * 1000)
    await post_logs(client, [
        {"time": now - 7200_000, "level": "error", "msg": "ancient", "agentName": "Bob"},
        {"time": now - 3, "level": "error", "msg": "bob failed", "agentName": "Bob"},
        {"time": now - 2, "level": "info", "msg": "bob said hi", "agentName": "Bob"},
        {"time": now - 1, "level": "error", "msg": "carol failed", "agentName": "Carol"},
        {"time": now, "level": 40, "msg": "a warning"},
    ])

    async def get(query: str) -> dict[str, Any]:
        response = await client.get(f"{prefix}/logs?{query}")
        assert response.status_code == 200
        body: dict[str, Any] = await response.get_json()
        return body

    body = await get("level=error")
    assert {"logs", "count", "total", "requestedLevel", "agentName", "agentId",
            "levels"} <= body.keys()
    assert body["requestedLevel"] == "error"
    assert body["levels"] == ["fatal", "error", "warn", "info", "log", "progress", "success",
                              "debug", "trace"]
    messages = [e["msg"] for e in body["logs"]]
    assert "bob failed" in messages
    assert "carol failed" in messages
    assert "ancient" not in messages  # older than an hour by default
    assert all(e["level"] == 50 for e in body["logs"])
    assert body["count"] == len(body["logs"])

    messages = [e["msg"] for e in (await get("agentName=Bob&level=all"))["logs"]]
    assert "bob failed" in messages
    assert "bob said hi" in messages
    assert "carol failed" not in messages

    messages = [e["msg"] for e in (await get(f"since={now - 1}"))["logs"]]
    assert messages[-2:] == ["carol failed", "a warning"]
    assert "bob failed" not in messages
    messages = [e["msg"] for e in (await get(f"since={now - 7300_000}&level=error"))["logs"]]
    assert "ancient" in messages

    body = await get("limit=2")
    assert [e["msg"] for e in body["logs"]] == ["carol failed", "a warning"]
    assert body["count"] == 2
    assert body["total"] >= 4

    response = await client.delete(f"{prefix}/logs")
    assert await response.get_json() == {"status": "success",
                                         "message": "Logs cleared successfully"}
    messages = [e["msg"] for e in (await get("level=all"))["logs"]]
    assert not {"bob failed", "carol failed", "a warning"} & set(messages)


async def test_untagged_lines_pass_an_agent_filter_only_while_few_lines_name_an_agent(
        client: Any) -> None:
    async def names(query: str) -> list[str]:
        body = await (await client.get(f"/api/server/logs?{query}")).get_json()
        return [e["msg"] for e in body["logs"]]

    async def fill(tagged: int, untagged: int) -> None:
        await client.delete("/api/server/logs")
        now = int(time.time() * 1000)
        logs = [{"time": now, "level": 30, "msg": f"bob {i}", "agentName": "Bob",
                 "agentId": BOB} for i in range(tagged)]
        logs += [{"time": now, "level": 30, "msg": f"server {i}"} for i in range(untagged)]
        await client.post("/api/server/logs", json={"logs": logs}, headers=JSON)

    await fill(tagged=1, untagged=20)  # hardly anything names an agent: keep the rest
    assert set(await names("agentName=Bob")) >= {"bob 0", "server 0", "server 19"}
    assert "server 0" in await names(f"agentId={BOB}")
    await fill(tagged=5, untagged=20)  # enough lines name one: only Bob's
    assert await names("agentName=Bob") == [f"bob {i}" for i in range(5)]
    assert await names(f"agentId={BOB}") == [f"bob {i}" for i in range(5)]
    assert await names("agentName=Carol") == []
    assert len(await names("agentName=all")) == 25


async def test_server_logs_capture_agent_activity(client: Any) -> None:
    response = await client.post("/api/agents", json={"characterJson": {"name": "Logger"}})
    agent_id = (await response.get_json())["data"]["id"]
    await client.post(f"/api/agents/{agent_id}/start")
    body = await (await client.get("/api/server/logs?agentName=Logger&level=info")).get_json()
    started = [e for e in body["logs"] if e["msg"] == "agent Logger started"]
    assert started
    assert started[0]["agentId"] == agent_id
    assert not any("Eliza" in e["msg"] for e in body["logs"] if e.get("agentName"))


async def test_logs_post_without_body_works_like_the_api_client_sends_it(client: Any) -> None:
    response = await client.post("/api/server/logs", data=b"", headers=JSON)
    assert response.status_code == 200
    assert "logs" in await response.get_json()


@pytest.fixture
def stop_requests(agent_server: AgentServer) -> trio.Event:
    requested = trio.Event()
    agent_server.shutdown_callback = requested.set
    return requested


@pytest.fixture
def virtual_clock() -> MockClock:
    return idle_autojump_clock()


# Virtual time jumps whenever every task waits, and a query to PostgreSQL is such a wait (a
# worker thread on a socket): timeouts would fire mid-query. What these tests time does
# not depend on the store, so they run on SQLite, whose queries finish before time jumps.
virtual_time = pytest.mark.sqlite_only


@virtual_time
@pytest.mark.parametrize("prefix", ["/api/server", "/api/runtime"])
async def test_stop_from_a_remote_client_is_forbidden(
    client: Any, stop_requests: trio.Event, prefix: str, virtual_clock: MockClock
) -> None:
    response = await client.post(f"{prefix}/stop", scope_base=REMOTE)
    assert response.status_code == 403
    body = await response.get_json()
    assert body["success"] is False
    assert body["error"]["code"] == "FORBIDDEN"
    # An accepted stop is carried out 0.2 s after its response. In virtual time, waiting
    # well past that is exact: a stop scheduled by the refused request would have run.
    await trio.sleep(5)
    assert not stop_requests.is_set()
    # The same wait does see an accepted stop, so the silence above means something.
    assert (await client.post(f"{prefix}/stop", scope_base=LOCAL)).status_code == 200
    await trio.sleep(5)
    assert stop_requests.is_set()


async def test_stop_from_loopback_stops_the_server(client: Any, stop_requests: trio.Event
                                                   ) -> None:
    response = await client.post("/api/server/stop", data=b"", headers=JSON, scope_base=LOCAL)
    assert response.status_code == 200
    assert await response.get_json() == {"message": "Server stopping..."}
    with trio.fail_after(3):
        await stop_requests.wait()


async def test_stop_with_auth_on_needs_the_key_not_loopback(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_SERVER_AUTH_TOKEN="k3y")
    async with open_app(settings) as app:
        server: AgentServer = app.app.config["ELIZA_SERVER"]
        requested = trio.Event()
        server.shutdown_callback = requested.set
        client = app.test_client()
        response = await client.post("/api/server/stop", scope_base=LOCAL)
        assert response.status_code == 401
        response = await client.post("/api/server/stop", scope_base=REMOTE,
                                     headers={"X-API-KEY": "k3y"})
        assert response.status_code == 200
        with trio.fail_after(3):
            await requested.wait()
