"""Worlds (`GET /api/agents/worlds`, not taken for an agent id; create; patch), agent logs,
and the url map: none of these routes shadows another."""

from __future__ import annotations

from typing import Any

from eliza import ids
from tests.messaging.helpers import get_json, send_json

from .helpers import ELIZA_ID, dm_turn, error_of

LOG_KEYS = {"id", "createdAt", "entityId", "body", "type", "roomId"}


async def test_get_worlds_is_reachable(client: Any) -> None:
    await dm_turn(client)
    body = await get_json(client, "/api/agents/worlds")
    assert body["success"] is True
    (world,) = body["data"]["worlds"]
    assert world["id"] == ids.create_unique_uuid(ELIZA_ID, ids.DEFAULT_SERVER_ID)
    assert world["agentId"] == ELIZA_ID
    assert world["serverId"] == ids.DEFAULT_SERVER_ID
    await send_json(client, "post", f"/api/agents/{ELIZA_ID}/stop")
    error = await error_of(client, "get", "/api/agents/worlds", 404)
    assert error["code"] == "NOT_FOUND"


async def test_create_and_patch_worlds(client: Any) -> None:
    base = f"/api/agents/{ELIZA_ID}/worlds"
    named = (await send_json(client, "post", base, {
        "name": "Atlantis", "serverId": "srv", "metadata": {"a": 1, "b": 2}}, 201))["data"]
    world = named["world"]
    assert world["name"] == "Atlantis"
    assert world["serverId"] == "srv"
    assert world["agentId"] == ELIZA_ID
    assert world["metadata"] == {"a": 1, "b": 2}
    wanted = ids.new_uuid()
    added = (await send_json(client, "post", base, {"worldId": wanted}, 201))["data"]["world"]
    assert added["id"] == wanted
    assert added["name"].startswith("World ")
    again = (await send_json(client, "post", base, {"worldId": wanted}, 201))["data"]["world"]
    assert again == added
    listed = (await get_json(client, "/api/agents/worlds"))["data"]["worlds"]
    assert {world["id"], wanted} <= {w["id"] for w in listed}
    assert (await error_of(client, "post", base, 400, {}))["code"] == "BAD_REQUEST"
    assert (await error_of(client, "post", base, 400, {"worldId": "x"}))["code"] == "INVALID_ID"
    assert (await error_of(client, "post", base, 400, {"name": "n", "metadata": 3}))["code"] \
        == "BAD_REQUEST"

    path = f"{base}/{world['id']}"
    patched = (await send_json(client, "patch", path, {"name": "Lemuria",
                                                       "metadata": {"b": 3, "c": 4}}))["data"]
    assert patched["world"]["name"] == "Lemuria"
    assert patched["world"]["metadata"] == {"a": 1, "b": 3, "c": 4}
    settings = (await send_json(client, "patch", path, {"settings": {"x": 1}}))["data"]
    settings = (await send_json(client, "patch", path, {"settings": {"y": 2}}))["data"]
    assert settings["world"]["metadata"] == {"a": 1, "b": 3, "c": 4,
                                             "settings": {"x": 1, "y": 2}}
    assert (await error_of(client, "patch", f"{base}/{ids.new_uuid()}", 404,
                           {"name": "z"}))["code"] == "NOT_FOUND"
    assert (await error_of(client, "patch", f"{base}/bad", 400, {}))["code"] == "INVALID_ID"
    assert (await error_of(client, "patch", path, 400, {"name": ""}))["code"] == "BAD_REQUEST"
    for method, tail in (("post", "worlds"), ("patch", f"worlds/{wanted}")):
        assert (await error_of(client, method, f"/api/agents/bad/{tail}", 400,
                               {"name": "n"}))["code"] == "INVALID_ID"
        assert (await error_of(client, method, f"/api/agents/{ids.new_uuid()}/{tail}", 404,
                               {"name": "n"}))["code"] == "NOT_FOUND"
    await send_json(client, "post", f"/api/agents/{ELIZA_ID}/stop")
    assert (await error_of(client, "post", base, 404, {"name": "n"}))["code"] \
        == "AGENT_NOT_RUNNING"


async def test_agent_logs_filters_and_delete(client: Any) -> None:
    turn = await dm_turn(client)
    base = f"/api/agents/{ELIZA_ID}/logs"
    logs = (await get_json(client, base))["data"]
    assert len(logs) == 3
    assert all(set(log) >= LOG_KEYS for log in logs)
    assert [log["createdAt"] for log in logs] == sorted((log["createdAt"] for log in logs),
                                                        reverse=True)
    assert logs[0]["createdAt"].endswith("Z")
    assert {log["type"] for log in logs} == {"run_event", "useModel:TEXT_LARGE"}
    assert all(log["entityId"] == ELIZA_ID and log["roomId"] == turn.room_id for log in logs)
    assert logs[-1]["body"]["status"] == "started"
    runs = (await get_json(client, f"{base}?type=run_event"))["data"]
    assert [log["type"] for log in runs] == ["run_event", "run_event"]
    assert (await get_json(client, f"{base}?count=1&offset=1"))["data"] == logs[1:2]
    assert (await get_json(client, f"{base}?excludeTypes=run_event"))["data"] == [
        log for log in logs if log["type"] != "run_event"]
    assert (await get_json(client, f"{base}?excludeTypes=RUN_EVENT&excludeTypes=usemodel:"
                                   "text_large"))["data"] == []
    assert (await get_json(client, f"{base}?excludeTypes=run_event,zzz"))["data"] == [
        log for log in logs if log["type"] != "run_event"]
    assert (await get_json(client, f"{base}?roomId={ids.new_uuid()}"))["data"] == []
    assert (await error_of(client, "get", f"{base}?roomId=bad", 400))["code"] == "INVALID_ID"
    assert (await error_of(client, "get", f"{base}?count=x", 400))["code"] == "BAD_REQUEST"

    response = await client.delete(f"{base}/{logs[0]['id']}")
    assert response.status_code == 204
    assert await response.get_data() == b""
    assert [log["id"] for log in (await get_json(client, base))["data"]] == [
        log["id"] for log in logs[1:]]
    assert (await error_of(client, "delete", f"{base}/{logs[0]['id']}", 404))["code"] \
        == "NOT_FOUND"
    assert (await error_of(client, "delete", f"{base}/bad", 400))["code"] == "INVALID_ID"
    for method, tail in (("get", "logs"), ("delete", f"logs/{ids.new_uuid()}")):
        assert (await error_of(client, method, f"/api/agents/bad/{tail}", 400))["code"] \
            == "INVALID_ID"
        assert (await error_of(client, method, f"/api/agents/{ids.new_uuid()}/{tail}",
                               404))["code"] == "NOT_FOUND"
    await send_json(client, "post", f"/api/agents/{ELIZA_ID}/stop")
    assert (await error_of(client, "get", base, 404))["code"] == "AGENT_NOT_RUNNING"


async def test_routes_do_not_collide(app: Any) -> None:
    """No (rule, method) of these blueprints is registered twice or shared with another
    blueprint, and each path reaches its own handler."""
    mine = ("memory.", "agent_memory.", "memory_groups.", "worlds.", "agent_logs.")
    seen: dict[tuple[str, str], list[str]] = {}
    for rule in app.app.url_map.iter_rules():
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            seen.setdefault((rule.rule, method), []).append(rule.endpoint)
    for key, endpoints in seen.items():
        if any(e.startswith(mine) for e in endpoints):
            assert len(endpoints) == 1, (key, endpoints)
    adapter = app.app.url_map.bind("localhost")
    a, r, m = ELIZA_ID, ids.new_uuid(), ids.new_uuid()
    expected = {
        ("GET", "/api/agents/worlds"): "worlds.list_worlds",
        ("GET", f"/api/agents/{a}"): "agents.get_agent",
        ("POST", f"/api/agents/{a}/worlds"): "worlds.create_world",
        ("PATCH", f"/api/agents/{a}/worlds/{r}"): "worlds.update_world",
        ("GET", f"/api/agents/{a}/logs"): "agent_logs.list_logs",
        ("DELETE", f"/api/agents/{a}/logs/{m}"): "agent_logs.delete_log",
        ("GET", f"/api/agents/{a}/runs"): "runs.list_runs",
        ("GET", f"/api/agents/{a}/runs/{r}"): "runs.get_run",
        ("GET", f"/api/agents/{a}/memories"): "agent_memory.agent_memories",
        ("GET", f"/api/memory/{a}/memories"): "memory.agent_memories",
        ("DELETE", f"/api/memory/{a}/memories/all/{r}"): "memory.clear_room_memories",
        ("DELETE", f"/api/memory/{a}/memories/{m}"): "memory.delete_memory",
        ("GET", f"/api/memory/{a}/rooms/{r}/memories"): "memory.room_memories",
        ("GET", f"/api/agents/{a}/rooms/{r}"): "agent_memory.get_room",
        ("POST", f"/api/memory/groups/{r}"): "memory_groups.create_group",
        ("DELETE", f"/api/memory/groups/{r}"): "memory_groups.delete_group",
        ("DELETE", f"/api/memory/groups/{r}/memories"): "memory_groups.clear_group_memories",
    }
    for (method, path), endpoint in expected.items():
        assert adapter.match(path, method)[0] == endpoint, (method, path)
    plugin = adapter.match(f"/api/agents/{a}/plugins/hello/x", "GET")[0]
    assert not plugin.startswith(("memory", "agent_memory", "worlds", "agent_logs"))
