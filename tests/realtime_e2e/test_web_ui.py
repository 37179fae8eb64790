"""The official ElizaOS web UI (`@elizaos/client` 1.7.2, installed with `eliza.webui`) in
headless Chromium against the live server: it loads from `/chat/<agentId>`, connects its
socket (polling, then the websocket upgrade), and the ELIZA agent's reply to a message typed
into it is rendered. A screenshot is kept under test-artifacts/. The agent's Logs tab lists
the steps of a turn made in the UI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, LiveServer, run_node
from eliza import ids, webui

pytestmark = [pytest.mark.browser, pytest.mark.node]  # the web UI in Chromium, driven by puppeteer

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
USER_TEXT = "Men are all alike."
DOCTOR_REPLY = "In what way?"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt when missing (root in CI and here); a failed
    install fails the test rather than skipping it."""
    if not CHROMIUM.exists():
        apt = shutil.which("apt-get")
        assert apt is not None, "chromium is missing and apt-get is not available"
        for command in ([apt, "update"], [apt, "install", "-y", "chromium"]):
            proc = subprocess.run(command, capture_output=True, text=True, timeout=900,
                                  env={"DEBIAN_FRONTEND": "noninteractive",
                                       "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
            assert proc.returncode == 0, f"{command} failed:\n{proc.stdout}\n{proc.stderr}"
    assert CHROMIUM.exists(), "apt-get installed chromium but /usr/bin/chromium is missing"
    return CHROMIUM


@pytest.fixture(scope="session")
def ui_tarball() -> bytes:
    """The @elizaos/client package from the npm registry (integrity-checked), fetched once."""
    return webui.fetch_ui_tarball()


@pytest.fixture
def ui_server(tmp_path: Path, ui_tarball: bytes) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path / "srv" / ".eliza")
    webui.install_ui(server.data_dir / "ui", tarball=ui_tarball)
    server.start()
    yield server
    server.stop()


def test_web_ui_chat_with_eliza(chromium: Path, ui_server: LiveServer, tmp_path: Path) -> None:
    agent_id = ids.string_to_uuid("Eliza")
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "web_ui_chat.png"
    screenshot.unlink(missing_ok=True)
    config = {"url": ui_server.url, "agentId": agent_id, "text": USER_TEXT,
              "expect": DOCTOR_REPLY, "screenshot": str(screenshot),
              "userDataDir": str(tmp_path / "chromium-profile")}
    r = run_node("ui_chat.mjs", json.dumps(config), timeout=120)
    print(f"\nweb UI screenshot: {screenshot}")
    assert "error" not in r, f"{r.get('error')}\nserver log:\n{ui_server.log()[-3000:]}"

    # The SPA route was answered with the UI's index.html.
    assert r["status"] == 200
    assert r["contentType"].startswith("text/html")
    assert r["sawConnected"] is True
    # The UI's socket: the Engine.IO polling handshake, then the websocket upgrade (same sid).
    # One Engine.IO session for the whole visit (no reconnect), carried over to the websocket.
    handshakes = [s for s in r["socketRequests"]
                  if s.startswith("GET /socket.io/?EIO=4&transport=polling") and "&sid=" not in s]
    assert len(handshakes) == 1, r["socketRequests"]
    sids = {s.rpartition("&sid=")[2] for s in r["socketRequests"] if "&sid=" in s}
    assert len(sids) == 1, r["socketRequests"]
    assert r["websockets"] == [
        f"ws://127.0.0.1:{ui_server.port}/socket.io/?EIO=4&transport=websocket&sid={sids.pop()}"]
    # The conversation is on the page, and the input was cleared after sending.
    assert USER_TEXT in r["bodyText"]
    assert DOCTOR_REPLY in r["bodyText"]
    assert r["inputAfter"] == ""
    assert not r["failedLocal"], r["failedLocal"]
    assert screenshot.stat().st_size > 10_000


def test_web_ui_logs_tab_lists_the_turn(chromium: Path, ui_server: LiveServer,
                                        tmp_path: Path) -> None:
    """The agent's Logs tab (the side panel's `agentName`-filtered view of the server logs)
    lists each step of a turn made in the UI, then a second turn's steps as they stream."""
    agent_id = ids.string_to_uuid("Eliza")
    screenshot = tmp_path / "web_ui_logs.png"
    second = "They're always bugging us about something or other."
    turn = ["Eliza received a message from", USER_TEXT, "Eliza will respond",
            "Eliza started run", "Eliza used model TEXT_LARGE", "Eliza replied in",
            DOCTOR_REPLY]
    config = {"url": ui_server.url, "agentId": agent_id, "text": USER_TEXT,
              "expect": DOCTOR_REPLY, "screenshot": str(screenshot),
              "userDataDir": str(tmp_path / "chromium-profile"),
              "logs": {"expect": [*turn, "completed in"],
                       "screenshot": str(tmp_path / "web_ui_logs_first_turn.png"),
                       "then": {"text": second,
                                "expect": ["Eliza received a message from", second,
                                           "Eliza replied in"]}}}
    r = run_node("ui_chat.mjs", json.dumps(config), timeout=150)
    print(f"\nweb UI logs screenshot: {screenshot}")
    assert "error" not in r, (f"{r.get('error')}\npanel:\n{r.get('logsPanel')}\n"
                              f"server log:\n{ui_server.log()[-3000:]}")

    # The tab asked the server for this agent's logs only, and listed the turn's steps.
    assert r["logRequests"], "the Logs tab never asked for the logs"
    assert all(url.startswith("/api/server/logs?") and url.endswith("&agentName=Eliza")
               for url in r["logRequests"]), r["logRequests"]
    panel = r["logsPanel"]
    print(f"Logs tab:\n{panel}")
    assert all(line in panel for line in turn), panel
    assert second in r["logsPanelAfter"]
    assert not r["failedLocal"], r["failedLocal"]
    assert screenshot.stat().st_size > 10_000
    assert (tmp_path / "web_ui_logs_first_turn.png").stat().st_size > 10_000
