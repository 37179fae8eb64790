"""Audio test fixtures: the system speech tools (installed with apt-get when missing; a
missing tool fails the run, it never skips), a live server, and agents with and without the
speech plugin."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

TOOLS = {"espeak-ng": "espeak-ng", "sox": "sox"}
AUDIO = "/api/audio"


@pytest.fixture(scope="session")
def speech_tools() -> None:
    ensure_speech_tools()


def ensure_speech_tools() -> None:
    """Install espeak-ng and sox with apt-get when missing; fail (never skip) if impossible."""
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if not missing:
        return
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        try:
            subprocess.run(argv, check=True, capture_output=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.fail(f"cannot install {missing} with apt-get: {exc}")
    still = [tool for tool in TOOLS if shutil.which(tool) is None]
    if still:
        pytest.fail(f"{still} still missing after apt-get install")


@pytest.fixture
def http(live_server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=90) as client:
        yield client


def create_agent(http: httpx.Client, name: str, plugins: list[str]) -> str:
    character = {"name": name, "bio": ["A test agent."], "plugins": plugins}
    response = http.post("/api/agents", json={"characterJson": character})
    assert response.status_code == 201, response.text
    agent_id = str(response.json()["data"]["id"])
    started = http.post(f"/api/agents/{agent_id}/start", json={})
    assert started.status_code == 200, started.text
    return agent_id


@pytest.fixture
def speech_agent(speech_tools: None, http: httpx.Client) -> str:
    return create_agent(http, "Speaker", ["speech"])


@pytest.fixture
def plain_agent(http: httpx.Client) -> str:
    return create_agent(http, "Mute", [])
