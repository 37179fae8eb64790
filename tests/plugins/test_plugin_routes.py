"""Plugin routes and panels through the real app, in process (the ad-hoc plugin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import make_settings, open_app
from eliza.plugins import make_plugin_manager
from eliza.server import AgentServer
from tests.plugins.adhoc import NAME, AdHocPlugin
from tests.plugins.conftest import start_agent

BAD_ID = "not-a-uuid"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000001"


async def test_agent_scoped_route_with_path_params(adhoc_app: Any, adhoc_server: Any) -> None:
    client = adhoc_app.test_client()
    agent = await start_agent(adhoc_server, "Plugged", [NAME])
    resp = await client.get(f"/api/agents/{agent}/plugins/adhoc/echo/lamp?x=1")
    assert resp.status_code == 200
    body = await resp.get_json()
    assert body == {"agentId": agent, "params": {"thing": "lamp"}, "query": {"x": "1"}}
    # ElizaOS `:param` and trailing `/*` syntax is translated.
    resp = await client.get(f"/api/agents/{agent}/plugins/adhoc/files/docs/a/b.txt")
    assert (await resp.get_json())["params"] == {"folder": "docs", "wildcard": "a/b.txt"}
    resp = await client.post(f"/api/agents/{agent}/plugins/adhoc/widgets", json={"n": 1})
    assert resp.status_code == 201
    assert await resp.get_json() == {"got": {"n": 1}}
    # A plain string comes back as HTML, as Quart does it.
    resp = await client.get(f"/api/agents/{agent}/plugins/adhoc/page")
    assert resp.content_type.startswith("text/html")
    assert await resp.get_data(as_text=True) == "<h1>adhoc page</h1>"


async def test_agent_in_path_is_honoured(adhoc_app: Any, adhoc_server: Any) -> None:
    client = adhoc_app.test_client()
    plugged = await start_agent(adhoc_server, "Plugged", [NAME])
    plain = await start_agent(adhoc_server, "Plain", [])
    resp = await client.get(f"/api/agents/{plain}/plugins/adhoc/echo/x?agentId={plugged}")
    assert resp.status_code == 404
    assert (await resp.get_json())["success"] is False
    resp = await client.get(f"/api/agents/{BAD_ID}/plugins/adhoc/echo/x")
    assert resp.status_code == 400
    assert (await resp.get_json())["error"]["code"] == "INVALID_ID"
    resp = await client.get(f"/api/agents/{UNKNOWN_ID}/plugins/adhoc/echo/x")
    assert (resp.status_code, (await resp.get_json())["error"]["code"]) == (
        404, "AGENT_NOT_FOUND")
    await adhoc_server.agents.stop(plugged)
    resp = await client.get(f"/api/agents/{plugged}/plugins/adhoc/echo/x")
    assert (resp.status_code, (await resp.get_json())["error"]["code"]) == (
        404, "AGENT_NOT_RUNNING")


async def test_unknown_route_and_wrong_method(adhoc_app: Any, adhoc_server: Any) -> None:
    client = adhoc_app.test_client()
    agent = await start_agent(adhoc_server, "Plugged", [NAME])
    resp = await client.get(f"/api/agents/{agent}/plugins/adhoc/nope")
    assert (resp.status_code, (await resp.get_json())["error"]["code"]) == (404, "NOT_FOUND")
    resp = await client.delete(f"/api/agents/{agent}/plugins/adhoc/widgets")
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "POST"
    resp = await client.get(f"/api/agents/{agent}/plugins/nosuchplugin/x")
    assert resp.status_code == 404
    # An ApiError raised by the handler is its answer.
    resp = await client.get(f"/api/agents/{agent}/plugins/adhoc/missing")
    assert (resp.status_code, (await resp.get_json())["error"]["code"]) == (
        404, "WIDGET_NOT_FOUND")


async def test_global_routes_pick_an_enabling_agent(adhoc_app: Any, adhoc_server: Any) -> None:
    client = adhoc_app.test_client()
    resp = await client.get("/adhoc/echo/x")
    assert resp.status_code == 404  # no running agent enables it yet
    await start_agent(adhoc_server, "Plain", [])
    plugged = await start_agent(adhoc_server, "Plugged", ["@elizaos/plugin-adhoc"])
    for path in ("/adhoc/echo/x", "/api/adhoc/echo/x"):
        resp = await client.get(path)
        assert resp.status_code == 200, path
        assert (await resp.get_json())["agentId"] == plugged
    resp = await client.get(f"/api/adhoc/echo/x?agentId={plugged}")
    assert (await resp.get_json())["agentId"] == plugged
    resp = await client.get(f"/api/adhoc/echo/x?agentId={BAD_ID}")
    assert (await resp.get_json())["error"]["code"] == "INVALID_ID"
    resp = await client.get(f"/adhoc/echo/x?agentId={UNKNOWN_ID}")
    assert resp.status_code == 404


async def test_plugins_never_shadow_core_paths(adhoc_app: Any, adhoc_server: Any) -> None:
    client = adhoc_app.test_client()
    await start_agent(adhoc_server, "Plugged", [NAME])
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/api/server/ping")).status_code == 200
    resp = await client.get("/api/nothing-here")
    assert (resp.status_code, (await resp.get_json())["error"]["code"]) == (404, "NOT_FOUND")
    resp = await client.get("/api/agents")
    assert (await resp.get_json())["success"] is True


async def test_raising_handler_is_json_500_and_logged(adhoc_app: Any, adhoc_server: Any
                                                      ) -> None:
    client = adhoc_app.test_client()
    agent = await start_agent(adhoc_server, "Plugged", [NAME])
    resp = await client.get(f"/api/agents/{agent}/plugins/adhoc/boom")
    assert resp.status_code == 500
    body = await resp.get_json()
    assert body["success"] is False
    assert body["error"]["code"] == "INTERNAL_ERROR"
    assert "exploded" not in str(body)  # internals stay in the log
    logs = await (await client.get("/api/server/logs?level=error")).get_json()
    assert any("plugin adhoc route GET /boom failed" in e["msg"] for e in logs["logs"])
    resp = await client.get(f"/api/agents/{agent}/plugins/adhoc/echo/still")
    assert resp.status_code == 200


async def test_panels(adhoc_app: Any, adhoc_server: Any) -> None:
    client = adhoc_app.test_client()
    agent = await start_agent(adhoc_server, "Plugged", [NAME, "example"])
    resp = await client.get(f"/api/agents/{agent}/panels")
    assert resp.status_code == 200
    body = await resp.get_json()
    assert body["success"] is True
    base = f"/api/agents/{agent}/plugins"
    query = f"?agentId={agent}"
    assert body["data"] == [
        {"name": "Inline", "path": f"{base}/adhoc/_panels/0{query}"},
        {"name": "By path", "path": f"{base}/adhoc/page{query}"},
        {"name": "AdHoc page", "path": f"{base}/adhoc/page{query}"},
        {"name": "Message counts", "path": f"{base}/example/_panels/0{query}"},
    ]
    resp = await client.get(body["data"][0]["path"])
    assert resp.content_type.startswith("text/html")
    assert await resp.get_data(as_text=True) == "<p>inline panel</p>"
    plain = await start_agent(adhoc_server, "Plain", [])
    assert (await (await client.get(f"/api/agents/{plain}/panels")).get_json())["data"] == []
    resp = await client.get(f"/api/agents/{BAD_ID}/panels")
    assert (resp.status_code, (await resp.get_json())["error"]["code"]) == (400, "INVALID_ID")
    resp = await client.get(f"/api/agents/{UNKNOWN_ID}/panels")
    assert resp.status_code == 404


async def test_root_plugin_paths_need_the_key_when_auth_is_on(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false",
                             ELIZA_SERVER_AUTH_TOKEN="s3cret")
    pm = make_plugin_manager(allow=[], extra=[(NAME, AdHocPlugin())])
    server = AgentServer(settings, pm)
    async with open_app(settings, server) as test_app:
        client = test_app.test_client()
        agent = await start_agent(server, "Plugged", [NAME])
        for path in ("/adhoc/echo/x", "/api/adhoc/echo/x",
                     f"/api/agents/{agent}/plugins/adhoc/echo/x"):
            resp = await client.get(path)
            assert resp.status_code == 401, path
            assert (await resp.get_json())["error"]["code"] == "UNAUTHORIZED"
            resp = await client.get(path, headers={"X-API-KEY": "s3cret"})
            assert resp.status_code == 200, path


async def test_a_plugin_named_like_a_core_path_stays_agent_scoped(
    tmp_path: Path, caplog: Any
) -> None:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    pm = make_plugin_manager(allow=[], extra=[("media", AdHocPlugin()),
                                              ("healthz", AdHocPlugin())])
    server = AgentServer(settings, pm)
    async with open_app(settings, server) as test_app:
        client = test_app.test_client()
        agent = await start_agent(server, "Plugged", ["media", "healthz"])
        assert await (await client.get("/healthz")).get_json() == {"status": "ok"}
        for path in ("/media/echo/x", "/api/media/echo/x", "/healthz/echo/x"):
            resp = await client.get(path)
            assert resp.status_code == 404, path
        resp = await client.get(f"/api/agents/{agent}/plugins/media/echo/x")
        assert (await resp.get_json())["params"] == {"thing": "x"}
        resp = await client.get(f"/api/agents/{agent}")
        assert (await resp.get_json())["data"]["id"] == agent
    assert any("shares its name with a core path" in r.getMessage() for r in caplog.records)


async def test_hung_or_invalid_handlers_are_contained(
    adhoc_app: Any, adhoc_server: Any, monkeypatch: Any
) -> None:
    import eliza.api.plugin_routes as plugin_routes

    monkeypatch.setattr(plugin_routes, "HANDLER_TIMEOUT", 0.05)
    client = adhoc_app.test_client()
    agent = await start_agent(adhoc_server, "Plugged", [NAME])
    resp = await client.get(f"/api/agents/{agent}/plugins/adhoc/hang")
    assert (resp.status_code, (await resp.get_json())["error"]["code"]) == (
        504, "PLUGIN_TIMEOUT")
    resp = await client.get(f"/api/agents/{agent}/plugins/adhoc/nothing")
    assert (resp.status_code, (await resp.get_json())["error"]["code"]) == (
        500, "INTERNAL_ERROR")
