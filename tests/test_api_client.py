"""The published `@elizaos/api-client` 1.7.2 (node, from npm) against the live server:
the results the original ElizaOS 1.7.2 server gives, except where this server deliberately
differs (object errors, masked secrets, env/local merge)."""

from __future__ import annotations

from typing import Any

import pytest
from dotenv import dotenv_values

from conftest import LiveServer, run_node
from eliza import ids

pytestmark = pytest.mark.node  # the published client, run by node

AGENT_KEYS = {"id", "enabled", "server_id", "createdAt", "updatedAt", "name", "username", "bio",
              "messageExamples", "postExamples", "topics", "adjectives", "knowledge", "plugins",
              "settings", "style", "status"}


def api_error(result: Any, code: str | tuple[str, ...], status: int) -> None:
    assert "error" in result, result
    error = result["error"]
    assert error.get("isApiError", True) is not False
    assert error["code"] in ((code,) if isinstance(code, str) else code), error
    assert error["status"] == status
    assert error["message"]
    assert error["message"] != "Unknown error"


def test_api_client_agents_server_and_system(live_server: LiveServer) -> None:
    (live_server.data_dir / ".env").write_text("EXISTING=kept\n")
    r = run_node("api_client_agents.mjs", live_server.url)

    assert r["ping"]["pong"] is True
    assert isinstance(r["ping"]["timestamp"], int)
    assert r["hello"] == {"message": "Hello World!"}
    assert r["status"]["status"] == "ok"
    assert r["status"]["agentCount"] == 1
    assert r["health"]["status"] == "OK"
    assert {"version", "timestamp", "dependencies"} <= r["health"].keys()
    assert {"version", "source", "timestamp", "environment", "uptime"} <= r["version"].keys()
    assert r["version"]["source"] == "server"

    eliza = ids.string_to_uuid("Eliza")
    # (on PostgreSQL each agent also says which worker runs it; the client ignores it)
    listed = [{k: v for k, v in a.items() if k != "worker"} for a in r["listAgents"]["agents"]]
    assert listed == [{
        "id": eliza, "name": "Eliza", "characterName": "Eliza",
        "bio": r["listAgents"]["agents"][0]["bio"], "status": "active"}]

    created = r["createAgent"]
    agent_id = created["id"]
    assert agent_id == ids.string_to_uuid("ClientBot")
    assert created["character"]["name"] == "ClientBot"
    assert created["character"]["settings"]["secrets"] == {"CLIENT_TOKEN": "********"}
    assert r["getAgent"].keys() >= AGENT_KEYS
    assert r["getAgent"]["status"] == "inactive"
    assert r["getAgent"]["server_id"] == ids.DEFAULT_SERVER_ID
    assert {a["name"]: a["status"] for a in r["listAfterCreate"]["agents"]} == {
        "Eliza": "active", "ClientBot": "inactive"}

    assert r["startAgent"] == {"id": agent_id, "name": "ClientBot", "status": "active"}
    assert r["statusAfterStart"]["agentCount"] == 2
    assert r["getAgentRunning"]["status"] == "active"
    assert r["updateAgent"]["settings"] == {"secrets": {"CLIENT_TOKEN": "********"},
                                            "mood": "calm"}
    assert r["updateAgent"]["status"] == "active"
    assert r["stopAgent"] == {"message": "Agent stopped"}
    api_error(r["stopAgainFails"], ("NOT_FOUND", "AGENT_NOT_RUNNING"), 404)
    assert r["getAgentStopped"]["status"] == "inactive"
    assert r["deleteAgent"] == {"success": True}  # 204: the client's own answer
    api_error(r["getDeletedFails"], "NOT_FOUND", 404)
    api_error(r["getBadIdFails"], "INVALID_ID", 400)
    api_error(r["createInvalidFails"], "INVALID_CHARACTER", 400)

    assert r["getEnvironment"] == {"EXISTING": "kept"}
    assert "error" not in r["updateLocalEnvironment"]
    assert r["getEnvironmentAfter"] == {"EXISTING": "kept", "CLIENT_SET": "one", "OTHER": "two"}
    assert dotenv_values(live_server.data_dir / ".env") == r["getEnvironmentAfter"]

    logs = r["globalLogs"]
    assert logs["level"] == "all"
    assert 0 < logs["count"] <= 5
    assert logs["total"] >= logs["count"]
    assert "info" in logs["levels"]
    assert [a["name"] for a in r["listAgentsEnd"]["agents"]] == ["Eliza"]


def test_api_client_with_an_api_key(live_server_factory: Any) -> None:
    server: LiveServer = live_server_factory(ELIZA_SERVER_AUTH_TOKEN="client-key")
    r = run_node("api_client_auth.mjs", server.url, "client-key")
    api_error(r["noKey"], "UNAUTHORIZED", 401)
    api_error(r["wrongKey"], "UNAUTHORIZED", 401)
    assert [a["name"] for a in r["rightKey"]["agents"]] == ["Eliza"]
    assert r["rightKeyPing"]["pong"] is True
