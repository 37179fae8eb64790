"""End to end against a real `hypercorn -k trio` process: sessions survive a restart,
persisted expiry gives 410, and the published api-client's sessions methods work."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from conftest import run_node
from eliza.runtime.doctor import Doctor
from tests.backends import server_database
from tests.sessions.conftest import ELIZA_ID, USER_ID
from tests.sessions.test_transports import ms

BASE = "/api/messaging/sessions"


def _session_flow(server: Any) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        created = http.post(BASE, json={"agentId": ELIZA_ID, "userId": USER_ID}).json()
        sid = created["sessionId"]
        first = http.post(f"{BASE}/{sid}/messages",
                          json={"content": "I need some help", "transport": "http"}).json()
        server.restart()
        http.base_url = httpx.URL(server.url)  # a restart picks a new port
        after = http.get(f"{BASE}/{sid}")
        messages = http.get(f"{BASE}/{sid}/messages").json()
        second = http.post(f"{BASE}/{sid}/messages",
                           json={"content": "I am unhappy", "transport": "http"})
        stream = http.post(f"{BASE}/{sid}/messages",
                           json={"content": "I need a holiday", "transport": "sse"})
        # Expire it while the server is down, as time passing would.
        server.stop()
        with server_database(server.data_dir) as db:
            db.execute("UPDATE sessions SET expires_at = 1 WHERE id = ?", [sid])
        server.start()
        http.base_url = httpx.URL(server.url)
        expired = http.get(f"{BASE}/{sid}")
        gone = http.get(f"{BASE}/{sid}")
        return {"created": created, "first": first, "after": after, "messages": messages,
                "second": second, "stream": stream, "expired": expired, "gone": gone}


async def test_session_survives_restart_and_expires(live_server: Any) -> None:
    out = await trio.to_thread.run_sync(_session_flow, live_server)
    created, first = out["created"], out["first"]
    assert first["agentResponse"]["text"] == Doctor().respond("I need some help")
    assert out["after"].status_code == 200
    info = out["after"].json()
    assert info["sessionId"] == created["sessionId"]
    assert info["channelId"] == created["channelId"]
    assert info["renewalCount"] == 1
    assert [m["content"] for m in out["messages"]["messages"]] == [
        first["agentResponse"]["text"], "I need some help"]
    assert out["second"].status_code == 201
    second = out["second"].json()
    assert second["agentResponse"]["text"]
    assert second["sessionStatus"]["renewalCount"] == 2
    stream = out["stream"]
    assert stream.headers["content-type"].startswith("text/event-stream")
    names = [line.split(": ", 1)[1] for line in stream.text.splitlines()
             if line.startswith("event: ")]
    assert names == ["user_message", "chunk", "done"]
    assert out["expired"].status_code == 410
    assert out["expired"].json()["error"]["code"] == "SESSION_EXPIRED"
    assert out["gone"].status_code == 404


@pytest.mark.node  # the published client, run by node
async def test_api_client_sessions_methods(live_server: Any) -> None:
    out = await trio.to_thread.run_sync(
        lambda: run_node("api_client_sessions.mjs", live_server.url, timeout=120))
    assert out["health"]["status"] == "healthy"
    assert out["health"]["activeSessions"] == 0
    created = out["created"]
    assert created["agentId"] == out["agentId"] == ELIZA_ID
    assert created["channelId"]
    assert created["metadata"] == {"platform": "node"}
    assert out["session"]["sessionId"] == created["sessionId"]
    # sendMessage/sendMessageSync return `data`, shaped as MessageResponse (the original
    # sends no `data`, so this client's calls would yield nothing)
    sent = out["sent"]
    assert sent["success"] is True
    assert sent["userMessage"]["content"] == "Hello, I feel tired"
    assert sent["sessionStatus"]["wasRenewed"] is True
    sync = out["sync"]
    assert sync["agentResponse"]["text"]
    assert sync["agentResponse"]["inReplyTo"] == sync["userMessage"]["id"]
    messages = out["messages"]["messages"]
    assert len(messages) == 4
    assert [m["isAgent"] for m in messages].count(True) == 2
    assert messages[0]["id"] == sync["agentResponse"]["id"]
    stamps = [ms(m["createdAt"]) for m in messages]
    assert out["older"]["messages"] == [m for m, t in zip(messages, stamps, strict=True)
                                        if t < stamps[0]]
    assert out["newer"]["messages"] == [m for m, t in zip(messages, stamps, strict=True)
                                        if t > stamps[-1]]
    assert out["list"]["total"] == 1
    assert out["list"]["sessions"][0]["sessionId"] == created["sessionId"]
    assert out["deleted"]["success"] is True
    assert out["afterDelete"]["error"]["code"] == "SESSION_NOT_FOUND"
    assert out["afterDelete"]["error"]["status"] == 404
    assert out["badCreate"]["error"]["code"] == "VALIDATION_ERROR"
