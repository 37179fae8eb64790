"""The `eliza chat`, `eliza agents ...` and `eliza logs` commands as a user runs them:
subprocesses against a live server, each with a timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ELIZA = str(Path(sys.executable).with_name("eliza"))


def eliza(*args: str, stdin: str = "", timeout: float = 30, **env: str
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ELIZA, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env})


def test_chat_prints_the_doctor_reply(live_server: Any) -> None:
    done = eliza("chat", "--url", live_server.url, stdin="Men are all alike.\n/quit\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Chatting with Eliza. Type /quit to leave.",
                                        "Eliza: In what way?"]
    # By name via $ELIZA_URL, two turns, ended by end of input.
    again = eliza("chat", "eliza", stdin="Men are all alike.\nI am unhappy.\n",
                  ELIZA_URL=live_server.url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("Eliza: ") == 2


def test_chat_with_an_api_key_and_unknown_agent(live_server_factory: Any) -> None:
    server = live_server_factory(ELIZA_SERVER_AUTH_TOKEN="s3cret")
    done = eliza("chat", "--url", server.url, stdin="Men are all alike.\n/quit\n",
                 ELIZA_SERVER_AUTH_TOKEN="s3cret")
    assert "Eliza: In what way?" in done.stdout, done.stderr
    denied = eliza("agents", "list", "--url", server.url, ELIZA_SERVER_AUTH_TOKEN="")
    assert denied.returncode == 1
    assert "401" in denied.stderr
    unknown = eliza("chat", "Nobody", "--url", server.url, "--api-key", "s3cret")
    assert unknown.returncode == 1
    assert "AGENT_NOT_FOUND" in unknown.stderr


def test_agents_commands(live_server: Any, tmp_path: Path) -> None:
    url = ["--url", live_server.url]
    listed = eliza("agents", "list", *url)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["NAME", "STATUS", "ID"]
    assert listed.stdout.splitlines()[1].split()[:2] == ["Eliza", "active"]
    character = tmp_path / "probe.json"
    character.write_text(json.dumps({"name": "Probe", "bio": ["A test agent."]}))
    created = eliza("agents", "create", str(character), *url)
    assert created.stdout.startswith("created Probe "), created.stderr
    assert eliza("agents", "start", "Probe", *url).stdout.startswith("started Probe")
    assert eliza("agents", "stop", "probe", *url).stdout.startswith("stopped Probe")
    agents = json.loads(eliza("agents", "list", "--json", *url).stdout)
    assert {a["name"]: a["status"] for a in agents}["Probe"] != "active"
    assert eliza("agents", "delete", "Probe", *url).stdout.startswith("deleted Probe")
    assert "Probe" not in eliza("agents", "list", *url).stdout


def test_logs_and_follow(live_server: Any) -> None:
    recent = eliza("logs", "--url", live_server.url)
    assert recent.returncode == 0, recent.stderr
    assert "agent Eliza started" in recent.stdout
    proc = subprocess.Popen([ELIZA, "logs", "--follow", "--limit", "1", "--url",
                             live_server.url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        assert "following" in proc.stderr.readline()  # subscribed
        deadline = time.monotonic() + 20
        seen = ""
        httpx.post(f"{live_server.url}/api/server/logs",
                   json={"logs": [{"msg": "followed entry", "level": "error"}]}, timeout=5)
        assert proc.stdout is not None
        while "followed entry" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert "ERROR followed entry" in seen
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
