"""LOG_LEVEL decides what the server logs and keeps for /api/server/logs: at `warn` the
agents' per-turn lines are left out (the turn still answers, and the agent's own logs keep
its model call); a level it does not know stops the server with a message naming it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from eliza.ids import DEFAULT_SERVER_ID
from tests.polling import wait_until_sync

# Logging does not depend on the store.
pytestmark = pytest.mark.sqlite_only


def _chat(server: LiveServer) -> str:
    """One message to the default agent in a DM; its reply's text."""
    agents = httpx.get(f"{server.url}/api/agents", timeout=10).json()["data"]["agents"]
    eliza = agents[0]["id"]
    user = str(uuid.uuid4())
    channel = httpx.post(f"{server.url}/api/messaging/channels", timeout=10, json={
        "name": "levels", "type": "DM", "message_server_id": DEFAULT_SERVER_ID,
        "participantCentralUserIds": [user, eliza]}).json()["data"]["id"]
    sent = httpx.post(f"{server.url}/api/messaging/channels/{channel}/messages", timeout=10,
                      json={"author_id": user, "content": "I feel tired",
                            "server_id": DEFAULT_SERVER_ID})
    assert sent.status_code == 201, sent.text

    def reply() -> str | None:
        messages = httpx.get(f"{server.url}/api/messaging/channels/{channel}/messages",
                             timeout=10).json()["data"]["messages"]
        return next((m["content"] for m in messages if m["authorId"] == eliza), None)

    return str(wait_until_sync(reply, within=20, message="Eliza's reply"))


def _server_log(server: LiveServer) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/api/server/logs", params={"agentName": "Eliza"},
                       timeout=10).json()
    logs: list[dict[str, Any]] = answer["logs"]
    return logs


@pytest.mark.parametrize(("level", "told"), [("warn", False), ("info", True), (None, True)])
def test_the_log_level_decides_whether_turns_are_told(
        live_server_factory: Any, level: str | None, told: bool) -> None:
    server: LiveServer = live_server_factory(**({"LOG_LEVEL": level} if level else {}))
    assert _chat(server)
    replied = [e["msg"] for e in _server_log(server) if "Eliza replied" in e["msg"]]
    if told:
        wait_until_sync(lambda: any("Eliza replied" in e["msg"] for e in _server_log(server)),
                        within=10, message="the reply in the server log")
    else:
        assert replied == []
        assert "Eliza replied" not in server.log()
        assert all(e["level"] >= 40 for e in _server_log(server))  # warn and above only
    eliza = httpx.get(f"{server.url}/api/agents", timeout=10).json()["data"]["agents"][0]["id"]
    rows = httpx.get(f"{server.url}/api/agents/{eliza}/logs", timeout=10).json()["data"]
    assert any(r["type"].startswith("useModel:") for r in rows)


def test_an_unknown_log_level_is_refused_by_name(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "eliza.cli", "serve", "--port", "0"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "ELIZA_DATA_DIR": str(tmp_path / "d"),
                               "LOG_LEVEL": "chatty"})
    assert done.returncode != 0
    assert "LOG_LEVEL must be one of trace, debug, info, warn, error, fatal: 'chatty'" in (
        done.stderr)
