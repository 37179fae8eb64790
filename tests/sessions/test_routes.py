"""Every sessions route through the real HTTP stack (in-process app), success and errors."""

from __future__ import annotations

from typing import Any

from eliza import ids
from eliza.server import AgentServer
from tests.sessions.conftest import ELIZA_ID, USER_ID, create_session

BASE = "/api/messaging/sessions"
MISSING = "11111111-2222-4333-8444-555555555555"


def assert_error(body: dict[str, Any], code: str) -> None:
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


async def test_health_before_session_id_route(client: Any) -> None:
    response = await client.get(f"{BASE}/health")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "healthy"
    assert body["activeSessions"] == 0
    assert body["expiringSoon"] == 0
    assert body["timestamp"].endswith("Z")
    assert body["uptime"] >= 0
    assert "invalidSessions" not in body


async def test_create_returns_channel_and_makes_dm(client: Any, agent_server: AgentServer
                                                   ) -> None:
    created = await create_session(client, metadata={"platform": "test"})
    assert set(created) >= {"sessionId", "channelId", "agentId", "userId", "createdAt",
                            "metadata", "expiresAt", "timeoutConfig"}
    assert ids.validate_uuid(created["sessionId"])
    assert created["agentId"] == ELIZA_ID
    assert created["userId"] == USER_ID
    assert created["metadata"] == {"platform": "test"}
    assert created["timeoutConfig"] == {"timeoutMinutes": 30, "autoRenew": True,
                                        "maxDurationMinutes": 720,
                                        "warningThresholdMinutes": 5}
    details = await (await client.get(
        f"/api/messaging/channels/{created['channelId']}/details")).get_json()
    channel = details["data"]
    assert channel["name"] == f"session-{created['sessionId']}"
    assert channel["type"] == "DM"
    assert channel["messageServerId"] == ids.DEFAULT_SERVER_ID
    assert channel["metadata"]["sessionId"] == created["sessionId"]
    assert channel["metadata"]["platform"] == "test"
    members = await (await client.get(
        f"/api/messaging/channels/{created['channelId']}/participants")).get_json()
    assert set(members["data"]) == {ELIZA_ID, USER_ID}


async def test_create_validation(client: Any) -> None:
    cases = [
        ({"userId": USER_ID}, 400, "VALIDATION_ERROR"),
        ({"agentId": "nope", "userId": USER_ID}, 400, "VALIDATION_ERROR"),
        ({"agentId": ELIZA_ID, "userId": "nope"}, 400, "VALIDATION_ERROR"),
        ({"agentId": ELIZA_ID, "userId": USER_ID, "metadata": "x"}, 400, "VALIDATION_ERROR"),
        ({"agentId": ELIZA_ID, "userId": USER_ID, "metadata": {"big": "x" * 10_300}}, 400,
         "VALIDATION_ERROR"),
        ({"agentId": ELIZA_ID, "userId": USER_ID, "timeoutConfig": {"timeoutMinutes": 2}},
         400, "VALIDATION_ERROR"),
        ({"agentId": ELIZA_ID, "userId": USER_ID, "timeoutConfig": {"autoRenew": "yes"}},
         400, "VALIDATION_ERROR"),
        ({"agentId": MISSING, "userId": USER_ID}, 404, "AGENT_NOT_FOUND"),
    ]
    for payload, status, code in cases:
        response = await client.post(BASE, json=payload)
        assert response.status_code == status, payload
        assert_error(await response.get_json(), code)
    bad_json = await client.post(BASE, data="{", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert_error(await bad_json.get_json(), "VALIDATION_ERROR")


async def test_create_with_timeout_config_merges_and_clamps(client: Any) -> None:
    created = await create_session(client, timeoutConfig={
        "timeoutMinutes": "60", "autoRenew": False, "maxDurationMinutes": 99_999,
        "warningThresholdMinutes": 0})
    assert created["timeoutConfig"] == {"timeoutMinutes": 60, "autoRenew": False,
                                        "maxDurationMinutes": 2880,
                                        "warningThresholdMinutes": 1}


async def test_agent_settings_shape_the_session(client: Any, agent_server: AgentServer) -> None:
    await agent_server.agents.update(ELIZA_ID, {"settings": {
        "SESSION_TIMEOUT_MINUTES": "90", "SESSION_AUTO_RENEW": "false",
        "SESSION_WARNING_THRESHOLD_MINUTES": "10"}})
    runtime = agent_server.agents.runtime(ELIZA_ID)
    assert runtime is not None
    assert runtime.get_setting("SESSION_TIMEOUT_MINUTES") == "90"
    created = await create_session(client)
    assert created["timeoutConfig"]["timeoutMinutes"] == 90
    assert created["timeoutConfig"]["autoRenew"] is False
    assert created["timeoutConfig"]["warningThresholdMinutes"] == 10
    # the request still wins over the agent
    created = await create_session(client, timeoutConfig={"timeoutMinutes": 20})
    assert created["timeoutConfig"]["timeoutMinutes"] == 20


async def test_get_session_info(client: Any) -> None:
    created = await create_session(client)
    response = await client.get(f"{BASE}/{created['sessionId']}")
    assert response.status_code == 200
    info = await response.get_json()
    assert set(info) >= {"sessionId", "channelId", "agentId", "userId", "createdAt",
                         "lastActivity", "metadata", "expiresAt", "timeoutConfig",
                         "renewalCount", "timeRemaining", "isNearExpiration"}
    assert info["renewalCount"] == 0
    assert 29 * 60_000 < info["timeRemaining"] <= 30 * 60_000
    assert info["isNearExpiration"] is False
    for path, code in ((f"{BASE}/{MISSING}", 404), (f"{BASE}/not-a-uuid", 400)):
        response = await client.get(path)
        assert response.status_code == code
        assert_error(await response.get_json(),
                     "SESSION_NOT_FOUND" if code == 404 else "VALIDATION_ERROR")


async def test_send_websocket_transport_default(client: Any) -> None:
    created = await create_session(client)
    sid = created["sessionId"]
    response = await client.post(f"{BASE}/{sid}/messages",
                                 json={"content": "Hello there", "metadata": {"tag": "x"}})
    assert response.status_code == 201
    body = await response.get_json()
    assert body["success"] is True
    user = body["userMessage"]
    assert user["content"] == "Hello there"
    assert user["authorId"] == USER_ID
    assert user["channelId"] == created["channelId"]
    assert user["metadata"]["sessionId"] == sid
    assert user["metadata"]["tag"] == "x"
    assert body["sessionStatus"]["renewalCount"] == 1
    assert body["sessionStatus"]["wasRenewed"] is True
    assert body["sessionStatus"]["isNearExpiration"] is False
    assert "agentResponse" not in body
    assert body["data"]["userMessage"]["id"] == user["id"]
    assert body["data"]["sessionStatus"] == body["sessionStatus"]
    assert body["id"] == user["id"]  # the 1.5 keys too
    # legacy mode websocket is the same transport
    response = await client.post(f"{BASE}/{sid}/messages",
                                 json={"content": "again", "mode": "websocket"})
    assert response.status_code == 201
    assert (await response.get_json())["sessionStatus"]["renewalCount"] == 2


async def test_send_errors(client: Any) -> None:
    created = await create_session(client)
    sid = created["sessionId"]
    cases = [
        (f"{BASE}/{MISSING}/messages", {"content": "hi"}, 404, "SESSION_NOT_FOUND"),
        (f"{BASE}/bad/messages", {"content": "hi"}, 400, "VALIDATION_ERROR"),
        (f"{BASE}/{sid}/messages", {}, 400, "VALIDATION_ERROR"),
        (f"{BASE}/{sid}/messages", {"content": "   "}, 400, "VALIDATION_ERROR"),
        (f"{BASE}/{sid}/messages", {"content": 5}, 400, "VALIDATION_ERROR"),
        (f"{BASE}/{sid}/messages", {"content": "x" * 4001}, 400, "VALIDATION_ERROR"),
        (f"{BASE}/{sid}/messages", {"content": "hi", "metadata": []}, 400, "VALIDATION_ERROR"),
        (f"{BASE}/{sid}/messages", {"content": "hi", "attachments": [1]}, 400,
         "VALIDATION_ERROR"),
        (f"{BASE}/{sid}/messages", {"content": "hi", "transport": "pigeon"}, 400,
         "VALIDATION_ERROR"),
        (f"{BASE}/{sid}/messages", {"content": "hi", "mode": "carrier"}, 400,
         "VALIDATION_ERROR"),
    ]
    for path, payload, status, code in cases:
        response = await client.post(path, json=payload)
        assert response.status_code == status, payload
        assert_error(await response.get_json(), code)
    # none of the rejected sends stored anything
    listed = await (await client.get(f"{BASE}/{sid}/messages")).get_json()
    assert listed["messages"] == []


async def test_delete_and_list(client: Any) -> None:
    first = await create_session(client)
    second = await create_session(client)
    listed = await (await client.get(BASE)).get_json()
    assert listed["total"] == 2
    assert {s["sessionId"] for s in listed["sessions"]} == {first["sessionId"],
                                                           second["sessionId"]}
    assert listed["stats"] == {"totalSessions": 2, "activeSessions": 2, "expiredSessions": 0}
    response = await client.delete(f"{BASE}/{first['sessionId']}")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["success"] is True
    assert body["message"] == f"Session {first['sessionId']} deleted successfully"
    assert body["data"]["success"] is True
    again = await client.delete(f"{BASE}/{first['sessionId']}")
    assert again.status_code == 404
    assert_error(await again.get_json(), "SESSION_NOT_FOUND")
    gone = await client.get(f"{BASE}/{first['sessionId']}")
    assert gone.status_code == 404
    # the channel stays (as in ElizaOS)
    details = await client.get(f"/api/messaging/channels/{first['channelId']}/details")
    assert details.status_code == 200
    health = await (await client.get(f"{BASE}/health")).get_json()
    assert health["activeSessions"] == 1


async def test_renew_heartbeat_timeout(client: Any) -> None:
    created = await create_session(client)
    sid = created["sessionId"]
    renewed = await client.post(f"{BASE}/{sid}/renew")
    assert renewed.status_code == 200
    assert (await renewed.get_json())["renewalCount"] == 1
    beat = await client.post(f"{BASE}/{sid}/heartbeat")
    assert beat.status_code == 200
    assert (await beat.get_json())["renewalCount"] == 2
    patched = await client.patch(f"{BASE}/{sid}/timeout", json={"timeoutMinutes": "120"})
    assert patched.status_code == 200
    info = await patched.get_json()
    assert info["timeoutConfig"]["timeoutMinutes"] == 120
    assert 119 * 60_000 < info["timeRemaining"] <= 120 * 60_000
    # a later PATCH merges with the agent's config, not the previous override
    patched = await client.patch(f"{BASE}/{sid}/timeout", json={"autoRenew": False})
    info = await patched.get_json()
    assert info["timeoutConfig"]["timeoutMinutes"] == 30
    assert info["timeoutConfig"]["autoRenew"] is False
    for payload, message in (({"timeoutMinutes": 2}, "between 5 and 1440"),
                             ({"timeoutMinutes": "abc"}, "format"),
                             ({"autoRenew": "yes"}, "format")):
        bad = await client.patch(f"{BASE}/{sid}/timeout", json=payload)
        assert bad.status_code == 400
        body = await bad.get_json()
        assert_error(body, "VALIDATION_ERROR")
        assert message in body["error"]["message"]
    for verb, path in (("post", "renew"), ("post", "heartbeat"), ("patch", "timeout")):
        missing = await getattr(client, verb)(f"{BASE}/{MISSING}/{path}", json={})
        assert missing.status_code == 404
        assert_error(await missing.get_json(), "SESSION_NOT_FOUND")
