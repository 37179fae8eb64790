"""Agents survive a server restart; the ones running at shutdown run again, and nothing else.
A killed server does not block the next start (the lock dies with it)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer


def create(http: httpx.Client, name: str, **extra: Any) -> str:
    response = http.post("/api/agents", json={"characterJson": {"name": name, **extra}})
    assert response.status_code == 201, response.text
    agent_id: str = response.json()["data"]["id"]
    return agent_id


def statuses(http: httpx.Client) -> dict[str, str]:
    agents = http.get("/api/agents").json()["data"]["agents"]
    return {a["name"]: a["status"] for a in agents}


def test_agents_and_their_running_state_survive_a_restart(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        runner = create(http, "Runner", settings={"secrets": {"TOKEN": "tok-1"}, "mood": "x"})
        create(http, "Sleeper")
        stopped = create(http, "Stopped")
        eliza = http.get("/api/agents").json()["data"]["agents"][0]["id"]
        for agent_id in (runner, stopped):
            assert http.post(f"/api/agents/{agent_id}/start").status_code == 200
        assert http.post(f"/api/agents/{stopped}/stop").status_code == 200
        assert http.post(f"/api/agents/{eliza}/stop").status_code == 200
        assert http.patch(f"/api/agents/{runner}",
                          json={"settings": {"mood": "y"}}).status_code == 200
        before = statuses(http)
        assert before == {"Runner": "active", "Sleeper": "inactive", "Stopped": "inactive",
                          "Eliza": "inactive"}

    live_server.restart()
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        assert statuses(http) == before  # and the stopped default agent is not recreated
        agent = http.get(f"/api/agents/{runner}").json()["data"]
        assert agent["settings"] == {"secrets": {"TOKEN": "********"}, "mood": "y"}
        assert http.get("/api/server/status").json()["agentCount"] == 1
        assert http.post(f"/api/agents/{stopped}/start").status_code == 200
        assert http.post(f"/api/agents/{runner}/stop").status_code == 200

    # The serving process (hypercorn's worker) killed without any cleanup: the next start
    # is not blocked by its lock and resumes the same set.
    assert live_server.proc is not None
    master = live_server.proc.pid
    workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert workers
    for pid in workers:
        os.kill(int(pid), signal.SIGKILL)
    live_server.proc.wait(timeout=15)  # the master gives up once its worker is gone
    live_server.start()
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        assert statuses(http) == {"Runner": "inactive", "Sleeper": "inactive",
                                  "Stopped": "active", "Eliza": "inactive"}


def test_an_agent_that_lacks_a_required_setting_is_not_resumed(
        live_server_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The key came from the server's environment (the openai plugin reads it there); the
    # server restarts without it.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    server = live_server_factory(ELIZA_LOAD_PLUGINS="openai", OPENAI_API_KEY="sk-env")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        gpt = create(http, "Gpt", plugins=["@elizaos/plugin-openai"])
        assert http.post(f"/api/agents/{gpt}/start").status_code == 200
        assert statuses(http) == {"Gpt": "active", "Eliza": "active"}

    del server.env["OPENAI_API_KEY"]
    server.restart()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert statuses(http) == {"Gpt": "inactive", "Eliza": "active"}
        assert "OPENAI_API_KEY" in http.get(f"/api/agents/{gpt}").json()["data"]["lastError"]
    [why] = [line for line in server.log().splitlines()
             if "WARNING" in line and "OPENAI_API_KEY" in line]
    assert "Gpt" in why
    assert "plugin openai" in why

    # It is still meant to run: once the key is back, the next restart resumes it.
    server.env["OPENAI_API_KEY"] = "sk-env"
    server.restart()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert statuses(http) == {"Gpt": "active", "Eliza": "active"}
