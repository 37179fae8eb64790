"""Every public method of the published `@elizaos/api-client` 1.7.2, called once against a
live server with real arguments: none may hit an unknown route (404) or a server error
(5xx). The node script enumerates the methods from the client itself, so one the package
adds is reported as unplanned rather than silently skipped."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import LiveServer, run_node
from tests.audio.conftest import ensure_speech_tools
from tests.jobs.helpers import eliza_answer

pytestmark = [pytest.mark.node, pytest.mark.espeak]  # the client, with real speech engines

PUBLIC_METHODS = 102
USER_ID = "965189c0-221e-42f3-89eb-fb91df1f8fe8"  # the script's users
OTHER_USER = "a3c5b7e1-5f0e-4d8b-9c1a-2b3c4d5e6f70"
# The only method that makes no request: the client itself refuses it.
CLIENT_ONLY = {"system.deleteLog": "Individual log deletion is not supported"}


def spoken_wav(path: Path) -> Path:
    subprocess.run(["espeak-ng", "-w", str(path), "testing one two three"], check=True,
                   timeout=60)
    return path


def report(results: dict[str, Any]) -> str:
    lines = []
    for name, result in results.items():
        statuses = " ".join(f"{r['method']} {r['path']} -> {r['status']}"
                            for r in result["requests"]) or "no request"
        outcome = "ok" if "ok" in result else f"error {result['error']}"
        lines.append(f"{name}: {outcome}; {statuses}")
    return "\n".join(lines)


def test_every_client_method_reaches_a_working_route(live_server_factory: Any,
                                                     tmp_path: Path) -> None:
    ensure_speech_tools()
    server: LiveServer = live_server_factory(ELIZA_DEFAULT_AGENT="true")
    sweep = run_node("api_client_sweep.mjs", server.url, str(spoken_wav(tmp_path / "q.wav")),
                     timeout=300)
    results = sweep["results"]
    print(report(results))  # the per-method status, shown with -s or on failure

    assert len(sweep["methods"]) == PUBLIC_METHODS, sweep["methods"]
    assert sweep["unplanned"] == []
    assert sweep["stale"] == []
    broken = {name: r["requests"] for name, r in results.items()
              if any(q["status"] == 404 or q["status"] >= 500 for q in r["requests"])}
    assert broken == {}, report(results)
    failed = {name: r["error"] for name, r in results.items()
              if "error" in r and name not in CLIENT_ONLY}
    assert failed == {}, report(results)

    for name, reason in CLIENT_ONLY.items():
        assert results[name]["requests"] == []
        assert reason in results[name]["error"]["message"]
    assert all(r["requests"] for name, r in results.items() if name not in CLIENT_ONLY)

    # Adding and removing a user through the client keeps the other participants.
    participants = sweep["facts"]["groupParticipants"]
    assert sweep["facts"]["eliza"] in participants
    assert USER_ID in participants
    assert OTHER_USER not in participants
    # The default ELIZA agent answers deterministically; ask returns her reply's text.
    assert results["jobs.ask"]["ok"] == eliza_answer("I feel anxious about my work")
    assert results["audio.transcribe"]["ok"]["text"] == "testing one two three"
    assert results["server.stopServer"]["ok"]["message"] == "Server stopping..."
