"""Expiry, renewal limits, near-expiration and the sweeper, on an injected clock (no sleeps
of minutes), plus the pure timeout rules."""

from __future__ import annotations

from typing import Any

import trio

from eliza.errors import DatabaseUnavailable
from eliza.server import AgentServer
from eliza.sessions import rules, run_session_sweeper
from eliza.settings import SessionSettings
from eliza.store import sessions as sq
from tests.clocks import Clock
from tests.polling import wait_until
from tests.sessions.conftest import create_session

BASE = "/api/messaging/sessions"


def test_merge_and_expiry_rules() -> None:
    defaults = SessionSettings()
    config = rules.merge(defaults, {"timeoutMinutes": "45", "autoRenew": "false"},
                         {"timeoutMinutes": None})
    assert config == rules.TimeoutConfig(45, False, 720, 5)
    assert rules.merge(defaults, {}, {"timeoutMinutes": "NaN"}).timeoutMinutes == 30
    assert rules.merge(defaults, {}, {"timeoutMinutes": 10_000}).timeoutMinutes == 1440
    # max duration is never below the timeout
    assert rules.merge(defaults, {}, {"timeoutMinutes": 600,
                                      "maxDurationMinutes": 60}).maxDurationMinutes == 600
    minute = rules.MINUTE_MS
    renewing = rules.TimeoutConfig(30, True, 60, 5)
    assert rules.expires_at(renewing, created_at=0, last_activity=10 * minute,
                            now=10 * minute) == 40 * minute
    # capped at created + max duration
    assert rules.expires_at(renewing, created_at=0, last_activity=50 * minute,
                            now=50 * minute) == 60 * minute
    fixed = rules.TimeoutConfig(30, False, 720, 5)
    assert rules.expires_at(fixed, created_at=0, last_activity=20 * minute,
                            now=20 * minute) == 30 * minute
    assert rules.is_near_expiration(renewing, 10 * minute, 6 * minute)
    assert not rules.is_near_expiration(renewing, 10 * minute, 4 * minute)
    assert not rules.is_near_expiration(renewing, 10 * minute, 10 * minute)


async def test_expired_session_is_410_then_deleted(client: Any, clock: Clock) -> None:
    created = await create_session(client)
    sid = created["sessionId"]
    clock.advance(29)
    assert (await client.get(f"{BASE}/{sid}")).status_code == 200
    clock.advance(2)
    response = await client.post(f"{BASE}/{sid}/messages", json={"content": "late"})
    assert response.status_code == 410
    body = await response.get_json()
    assert body == {"success": False, "error": {
        "code": "SESSION_EXPIRED", "message": f"Session '{sid}' has expired"}}
    # deleted on that access
    response = await client.get(f"{BASE}/{sid}")
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "SESSION_NOT_FOUND"


async def test_each_route_answers_410(client: Any, clock: Clock) -> None:
    routes = [("get", ""), ("get", "/messages"), ("post", "/renew"), ("post", "/heartbeat"),
              ("patch", "/timeout")]
    for verb, path in routes:
        created = await create_session(client)
        clock.advance(31)
        response = await getattr(client, verb)(f"{BASE}/{created['sessionId']}{path}", json={})
        assert response.status_code == 410, (verb, path)
        assert (await response.get_json())["error"]["code"] == "SESSION_EXPIRED"


async def test_activity_renews_and_fixed_sessions_do_not(client: Any, clock: Clock) -> None:
    renewing = await create_session(client)
    fixed = await create_session(client, timeoutConfig={"autoRenew": False})
    clock.advance(20)
    for created in (renewing, fixed):
        await client.post(f"{BASE}/{created['sessionId']}/heartbeat")
    info = await (await client.get(f"{BASE}/{renewing['sessionId']}")).get_json()
    assert info["renewalCount"] == 1
    assert info["timeRemaining"] == 30 * 60_000
    info = await (await client.get(f"{BASE}/{fixed['sessionId']}")).get_json()
    assert info["renewalCount"] == 0
    assert info["timeRemaining"] == 10 * 60_000
    clock.advance(15)
    assert (await client.get(f"{BASE}/{fixed['sessionId']}")).status_code == 410
    assert (await client.get(f"{BASE}/{renewing['sessionId']}")).status_code == 200
    # an explicit renew works even without autoRenew (forced on for the call)
    other = await create_session(client, timeoutConfig={"autoRenew": False})
    clock.advance(20)
    renewed = await (await client.post(f"{BASE}/{other['sessionId']}/renew")).get_json()
    assert renewed["renewalCount"] == 1
    assert renewed["timeRemaining"] == 30 * 60_000


async def test_max_duration_caps_renewal(client: Any, clock: Clock,
                                         agent_server: AgentServer) -> None:
    created = await create_session(client, timeoutConfig={"timeoutMinutes": 30,
                                                          "maxDurationMinutes": 60})
    sid = created["sessionId"]
    clock.advance(25)
    await client.post(f"{BASE}/{sid}/heartbeat")
    clock.advance(25)
    info = await (await client.post(f"{BASE}/{sid}/heartbeat")).get_json()
    assert info["timeRemaining"] == 10 * 60_000  # created + 60 min, not now + 30 min
    assert info["isNearExpiration"] is False
    clock.advance(6)
    info = await (await client.get(f"{BASE}/{sid}")).get_json()
    assert info["isNearExpiration"] is True
    health = await (await client.get(f"{BASE}/health")).get_json()
    assert health["expiringSoon"] == 1
    # A row past its max duration whose expiry lies ahead (written by an older server, say)
    # cannot be renewed.
    await agent_server.store.write(sq.update_session, sid, {"expires_at": clock.now + 60_000,
                                                            "created_at": clock.now - 61 * 60_000})
    response = await client.post(f"{BASE}/{sid}/renew")
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error == {"code": "SESSION_RENEWAL_FAILED",
                     "message": f"Cannot renew session '{sid}': Maximum duration reached"}


async def test_sweeper_removes_expired_sessions(client: Any, clock: Clock,
                                                agent_server: AgentServer,
                                                nursery: trio.Nursery) -> None:
    old = await create_session(client)
    clock.advance(20)
    young = await create_session(client)
    clock.advance(11)  # old: 31 min idle, young: 11
    await nursery.start(lambda task_status: run_session_sweeper(
        agent_server.sessions, interval=0.01, task_status=task_status))
    async def old_gone() -> bool:
        return await agent_server.store.read(sq.get_session, old["sessionId"]) is None

    await wait_until(old_gone, within=5, message="the expired session swept")
    assert await agent_server.store.read(sq.get_session, young["sessionId"]) is not None
    listed = await (await client.get(BASE)).get_json()
    assert [s["sessionId"] for s in listed["sessions"]] == [young["sessionId"]]
    assert listed["stats"]["expiredSessions"] == 0
    clock.advance(15)  # young is now within 5 minutes of its end: flagged
    async def young_flagged() -> bool:
        row = await agent_server.store.read(sq.get_session, young["sessionId"])
        return row is not None and bool(row["warning_state"])

    await wait_until(young_flagged, within=5, message="the warning flag")


async def test_list_counts_expired_until_swept(client: Any, clock: Clock,
                                               agent_server: AgentServer) -> None:
    await create_session(client)
    clock.advance(31)
    await create_session(client)
    listed = await (await client.get(BASE)).get_json()
    assert listed["total"] == 1
    assert listed["stats"] == {"totalSessions": 2, "activeSessions": 1, "expiredSessions": 1}
    removed, _ = await agent_server.sessions.sweep()
    assert len(removed) == 1
    listed = await (await client.get(BASE)).get_json()
    assert listed["stats"]["totalSessions"] == 1


async def test_sweeper_outlives_a_database_outage(
        client: Any, clock: Clock, agent_server: AgentServer, nursery: trio.Nursery,
        caplog: Any, monkeypatch: Any) -> None:
    old = await create_session(client)
    clock.advance(31)
    service = agent_server.sessions
    sweep = service.sweep
    outages = 2

    async def sweep_unless_down() -> Any:
        nonlocal outages
        if outages:
            outages -= 1
            raise DatabaseUnavailable("The database is unavailable: test; retry shortly")
        return await sweep()

    monkeypatch.setattr(service, "sweep", sweep_unless_down)
    await nursery.start(lambda task_status: run_session_sweeper(
        service, interval=0.01, task_status=task_status))

    async def old_gone() -> bool:
        return await agent_server.store.read(sq.get_session, old["sessionId"]) is None

    await wait_until(old_gone, within=5, message="the expired session swept after the outage")
    skipped = [r for r in caplog.records if "session sweep skipped" in r.getMessage()]
    assert len(skipped) == 2
    assert not any(r.exc_info for r in skipped)  # one line each, no traceback
