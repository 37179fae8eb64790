"""Two hosts of two workers on one database: a published socket.io-client connected to host B
chats with an agent that runs on host A (join, ack, echo, the agent's reply and
`messageComplete`), and streams a log line that host A wrote; a session's http reply wait on
host B gets the reply made on host A. Once per bus (PostgreSQL, and Redis of its own)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from eliza import ids
from tests.polling import wait_until_sync
from tests.realtime_e2e.test_clients import check_chat, node_chat

from .deployment import Host, RedisBroker, agents, deployment, sql

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only, pytest.mark.cluster,
              pytest.mark.node]

ELIZA_ID = ids.string_to_uuid("Eliza")


def _runs_on_host(host: Host) -> bool:
    """Whether the default agent runs on one of `host`'s workers (the lease's holder is a
    worker whose process is one of the host's)."""
    listed = agents(host)["Eliza"]
    if listed["status"] != "active" or not listed.get("worker"):
        return False
    holders = sql(host, "SELECT pid FROM workers WHERE id = ?", (listed["worker"],))
    return bool(holders) and holders[0][0] in host.worker_pids()


def _dm(host: Host, user: str) -> str:
    response = httpx.post(f"{host.url}/api/messaging/channels", timeout=10, json={
        "name": "DM with Eliza", "message_server_id": ids.DEFAULT_SERVER_ID,
        "participantCentralUserIds": [user, ELIZA_ID], "type": "DM",
        "metadata": {"isDm": True, "forAgent": ELIZA_ID}})
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


@pytest.mark.parametrize("bus", ["postgres", "redis"])
def test_a_client_of_host_b_chats_with_an_agent_of_host_a(tmp_path: Path, bus: str) -> None:
    broker = RedisBroker(tmp_path / "redis")
    env = {"ELIZA_DEFAULT_AGENT": "true"}
    if bus == "redis":
        broker.start()
        env["REDIS_URL"] = broker.url
    try:
        with deployment(tmp_path, bus=bus, env=env) as (host_a, host_b):
            # Host A started first and took the agent; a lone agent is not handed over.
            wait_until_sync(lambda: _runs_on_host(host_a), within=10,
                            message="the default agent running on host A")
            _chat_through_b(host_a, host_b)
            _session_reply_through_b(host_b)
            assert _runs_on_host(host_a)  # it stayed there all along
    finally:
        broker.kill()


def _chat_through_b(host_a: Host, host_b: Host) -> None:
    user = str(uuid.uuid4())
    channel = _dm(host_b, user)
    # Websocket only: each connection stays on one worker of host B (polling sessions
    # across workers are the subject of their own test).
    r = node_chat(host_b, user, channel, transports=["websocket"], restUrl=host_a.url)
    check_chat(r, user, channel)
    assert r["reply"]["senderId"] == ELIZA_ID
    # The log line of the agent created through host A reached the socket on host B.
    assert "agent LogProbe" in r["logEntry"]["payload"]["msg"]


def _session_reply_through_b(host_b: Host) -> None:
    base = f"{host_b.url}/api/messaging/sessions"
    with httpx.Client(timeout=30) as http:
        created = http.post(base, json={"agentId": ELIZA_ID, "userId": str(uuid.uuid4())})
        assert created.status_code == 201, created.text
        sid = created.json()["sessionId"]
        answer: dict[str, Any] = http.post(f"{base}/{sid}/messages", json={
            "content": "I need some help", "transport": "http"}).json()
    assert answer["agentResponse"] is not None, answer
    assert answer["agentResponse"]["text"]
    assert answer["agentResponse"]["inReplyTo"] == answer["userMessage"]["id"]
