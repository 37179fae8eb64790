"""In a deployment, a worker does not take over an agent whose plugins lack a setting they
require (here the openai key, which only one worker's environment holds): it says why once,
shows the agent inactive, and takes it as soon as the setting is in the character."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from tests.backends import own_schema
from tests.polling import wait_until_sync

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]

LEASE = 2.0  # seconds: short, so takeovers are quick to see


@pytest.fixture
def schema_url() -> Iterator[str]:
    with own_schema("needs") as (_, url):
        yield url


def _server(root: Path, name: str, url: str, **env: str) -> LiveServer:
    return LiveServer(root / name / ".eliza", {
        "POSTGRES_URL": url, "ELIZA_BUS": "postgres", "SECRET_SALT": "one-salt-for-the-test",
        "ELIZA_LEASE_SECONDS": str(LEASE), "ELIZA_LOAD_PLUGINS": "openai",
        "ELIZA_DEFAULT_AGENT": "false", **env})


def _create(server: LiveServer, name: str) -> str:
    response = httpx.post(f"{server.url}/api/agents", timeout=10, json={"characterJson": {
        "name": name, "bio": "x", "plugins": ["@elizaos/plugin-openai"]}})
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def _agent(server: LiveServer, agent_id: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{server.url}/api/agents/{agent_id}",
                                     timeout=10).json()["data"]
    return data


def _why(server: LiveServer, name: str) -> list[str]:
    return [line for line in server.log().splitlines()
            if "WARNING" in line and f"Agent {name} " in line and "OPENAI_API_KEY" in line]


def test_a_worker_without_the_setting_does_not_take_the_agent_over(
        tmp_path: Path, schema_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    keyed = _server(tmp_path, "keyed", schema_url, OPENAI_API_KEY="sk-env")
    bare = _server(tmp_path, "bare", schema_url)
    keyed.start()
    bare.start()
    try:
        # Started through the worker that lacks the key: refused, and not meant to run.
        other = _create(bare, "Other")
        refused = httpx.post(f"{bare.url}/api/agents/{other}/start", timeout=20)
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "MISSING_SETTING"
        assert _agent(keyed, other)["status"] == "inactive"

        gpt = _create(keyed, "Gpt")
        started = httpx.post(f"{keyed.url}/api/agents/{gpt}/start", timeout=20)
        assert started.status_code == 200, started.text
        assert _agent(bare, gpt)["status"] == "active"

        keyed.stop()  # its leases are released: the bare worker looks at the agent
        wait_until_sync(lambda: _agent(bare, gpt)["status"] == "inactive", within=4 * LEASE)
        assert "OPENAI_API_KEY" in _agent(bare, gpt)["lastError"]
        wait_until_sync(lambda: _why(bare, "Gpt"), within=LEASE)
        time.sleep(3 * LEASE)  # several ticks, each looking at the agent again
        assert len(_why(bare, "Gpt")) == 1  # said once, not once a tick
        assert _agent(bare, gpt)["worker"] is None

        patched = httpx.patch(f"{bare.url}/api/agents/{gpt}", timeout=20,
                              json={"settings": {"secrets": {"OPENAI_API_KEY": "sk-test"}}})
        assert patched.status_code == 200, patched.text
        wait_until_sync(lambda: _agent(bare, gpt)["status"] == "active", within=3 * LEASE)
        assert _agent(bare, gpt)["worker"] is not None
    finally:
        keyed.stop()
        bare.stop()
