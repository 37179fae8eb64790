"""The official web UI in headless Chromium, with its default transports (Engine.IO
long-polling first, then the websocket upgrade), chats with Eliza against `eliza serve
--workers 2`: its polling requests and its upgrade reach either worker, with no sticky
routing, and the conversation works as against one process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT, run_node
from eliza import ids, webui
from tests.backends import own_schema
from tests.realtime_e2e.test_web_ui import DOCTOR_REPLY, USER_TEXT, chromium, ui_tarball

from .deployment import Host

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only, pytest.mark.cluster,
              pytest.mark.browser, pytest.mark.node]

__all__ = ["chromium", "ui_tarball"]  # the fixtures, shared with the single-process test


def test_web_ui_chats_against_two_workers(chromium: Path, ui_tarball: bytes,
                                          tmp_path: Path) -> None:
    with own_schema("ui") as (_, url):
        host = Host(tmp_path / "host" / ".eliza", {
            "POSTGRES_URL": url, "ELIZA_BUS": "postgres", "ELIZA_DEFAULT_AGENT": "true"})
        webui.install_ui(host.data_dir / "ui", tarball=ui_tarball)
        host.start(timeout=60)
        try:
            workers = host.wait_for_workers()
            assert len(workers) == 2
            artifacts = ROOT / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            screenshot = artifacts / "web_ui_two_workers.png"
            config = {"url": host.url, "agentId": ids.string_to_uuid("Eliza"),
                      "text": USER_TEXT, "expect": DOCTOR_REPLY, "screenshot": str(screenshot),
                      "userDataDir": str(tmp_path / "chromium-profile")}
            r = run_node("ui_chat.mjs", json.dumps(config), timeout=120)
            assert "error" not in r, f"{r.get('error')}\nserver log:\n{host.log()[-3000:]}"
            assert r["sawConnected"] is True
            # One Engine.IO session for the whole visit (no reconnect), upgraded to a websocket.
            sids = {s.rpartition("&sid=")[2] for s in r["socketRequests"] if "&sid=" in s}
            assert len(sids) == 1, r["socketRequests"]
            assert len(r["websockets"]) == 1
            assert USER_TEXT in r["bodyText"]
            assert DOCTOR_REPLY in r["bodyText"]
            assert not r["failedLocal"], r["failedLocal"]
        finally:
            host.stop(timeout=40)
