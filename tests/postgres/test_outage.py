"""PostgreSQL going away: a server that cannot reach it at start says so in one line and
exits; a running server answers 503 DATABASE_UNAVAILABLE at once while it is gone (no
hang, no traceback), logs the outage once, and serves again by itself when it is back,
agent replies included. The database sits behind a TCP proxy of the test's own, so cutting
it touches no other test."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from eliza.ids import DEFAULT_SERVER_ID
from eliza.testing.live import free_port
from tests.backends import admin_url, own_schema, with_search_path
from tests.polling import wait_until_sync

from .support import TcpProxy

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]

ELIZA = str(Path(sys.executable).with_name("eliza"))
CONNECT_TIMEOUT = 2.0
TIMEOUTS = {"POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
            "POSTGRES_STATEMENT_TIMEOUT": "2"}
# A refused request must come back well before a client would give up on it.
PROMPT = CONNECT_TIMEOUT + 2.0


def _through(port: int, schema: str) -> str:
    """The test database's URL, on `port` of 127.0.0.1 instead of its own."""
    host = admin_url().split("@", 1)[1].split("/", 1)[1]
    return with_search_path(f"postgresql://postgres@127.0.0.1:{port}/{host}", schema)


@pytest.fixture
def schema() -> Iterator[str]:
    with own_schema("outage") as (name, _):
        yield name


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", 5432) as running:
        yield running


# `eliza serve` catches a DatabaseUnavailable raised at start, but it arrives wrapped in
# hypercorn's LifespanFailureError (after Quart has logged its traceback), so the process
# prints tracebacks and exits 1 by accident. Strict: once `eliza serve` unwraps it, this
# passes and the mark must go.
@pytest.mark.parametrize("hold", [False, True], ids=["refused", "unanswered"])
def test_serve_without_a_database_exits_with_one_line(
        tmp_path: Path, schema: str, proxy: TcpProxy, hold: bool) -> None:
    # Refused: nothing listens there. Unanswered: connections are taken and never
    # answered, so only the connect timeout ends the wait.
    port = proxy.port if hold else free_port()
    proxy.cut(hold=hold)
    started = time.monotonic()
    proc = subprocess.run(
        [ELIZA, "serve", "--port", str(free_port())], cwd=tmp_path, capture_output=True,
        text=True, timeout=60,
        env={**_env(), "ELIZA_DATA_DIR": str(tmp_path / ".eliza"),
             "POSTGRES_URL": _through(port, schema), **TIMEOUTS})
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "cannot connect" in line]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith("eliza: ")
    assert f"127.0.0.1:{port}" in errors[0]
    # Start-up (imports) plus the connect timeout and the one retry that names the cause,
    # not the default 10 s wait per try.
    assert took < 4 * CONNECT_TIMEOUT + 6, took


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("POSTGRES_")}


def _answered_by_agent(server: LiveServer, channel_id: str, message_id: str) -> bool:
    listed = httpx.get(f"{server.url}/api/messaging/channels/{channel_id}/messages",
                       timeout=10).json()["data"]["messages"]
    return any(m["inReplyToRootMessageId"] == message_id
               and m["sourceType"] == "agent_response" for m in listed)


def _post(server: LiveServer, channel_id: str, user: str, text: str) -> httpx.Response:
    return httpx.post(f"{server.url}/api/messaging/channels/{channel_id}/messages",
                      json={"author_id": user, "content": text}, timeout=30)


def _refused_quickly(response: httpx.Response, took: float) -> None:
    assert response.status_code == 503, response.text
    body: Any = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "DATABASE_UNAVAILABLE"
    assert "Traceback" not in response.text
    assert "psycopg" not in response.text
    assert took < PROMPT, took


def test_outage_answers_503_then_recovers_by_itself(
        tmp_path: Path, schema: str, proxy: TcpProxy) -> None:
    server = LiveServer(tmp_path / "srv" / ".eliza",
                        {"POSTGRES_URL": _through(proxy.port, schema), **TIMEOUTS})
    server.start()
    try:
        _outage_and_recovery(server, proxy)
    finally:
        server.stop()


def _outage_and_recovery(server: LiveServer, proxy: TcpProxy) -> None:
    agents = httpx.get(f"{server.url}/api/agents", timeout=10).json()["data"]["agents"]
    user = str(uuid.uuid4())
    created = httpx.post(f"{server.url}/api/messaging/channels", timeout=10, json={
        "name": "outage", "type": "DM", "message_server_id": DEFAULT_SERVER_ID,
        "participantCentralUserIds": [user, agents[0]["id"]]})
    channel_id = created.json()["data"]["id"]
    before = _post(server, channel_id, user, "before").json()["userMessage"]["id"]
    wait_until_sync(lambda: _answered_by_agent(server, channel_id, before), within=20,
                    message="the reply before the outage")
    logged = len(server.log())

    for hold in (False, True):  # connections refused, then connections never answered
        proxy.cut(hold=hold)
        for call in (
            lambda: httpx.get(f"{server.url}/api/messaging/channels/{channel_id}/messages",
                              timeout=30),
            lambda: _post(server, channel_id, user, "during"),
            lambda: httpx.get(f"{server.url}/api/messaging/dm-channel", timeout=30, params={
                "currentUserId": user, "targetUserId": str(uuid.uuid4())}),
            lambda: httpx.get(f"{server.url}/api/messaging/channels/{channel_id}/details",
                              timeout=30),
        ):
            started = time.monotonic()
            response = call()
            _refused_quickly(response, time.monotonic() - started)
        # The process itself still answers: only what needs the database is refused.
        assert httpx.get(f"{server.url}/api/server/ping", timeout=5).status_code == 200
        proxy.restore()
        wait_until_sync(
            lambda: httpx.get(f"{server.url}/api/messaging/channels/{channel_id}/details",
                              timeout=10).status_code == 200,
            within=10, message="the server answering again after the outage")

    after = _post(server, channel_id, user, "after")
    assert after.status_code == 201, after.text
    wait_until_sync(lambda: _answered_by_agent(server, channel_id,
                                               after.json()["userMessage"]["id"]),
                    within=20, message="the agent's reply after the outage")
    outage_log = server.log()[logged:]
    assert "Traceback" not in outage_log, outage_log
    # One error line per outage, not one per refused request.
    assert 1 <= outage_log.count("database unavailable") <= 4, outage_log
    assert outage_log.count(" ERROR ") <= 4, outage_log
    assert "answers again" in outage_log
