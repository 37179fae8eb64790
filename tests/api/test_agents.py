"""`/api/agents`: the default agent, the create -> start -> stop -> delete cycle, PATCH,
secrets (never echoed back in clear) and where characters may come from (the characters
directory and public URLs only)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import make_settings, open_app
from eliza import ids
from eliza.server import AgentServer

LOCAL = {"client": ("127.0.0.1", 40000)}
JSON = {"Content-Type": "application/json"}

# The keys the 1.7.2 original answers for GET /api/agents/:id.
AGENT_KEYS = {"id", "enabled", "server_id", "createdAt", "updatedAt", "name", "username", "bio",
              "messageExamples", "postExamples", "topics", "adjectives", "knowledge", "plugins",
              "settings", "style", "status"}


async def create(client: Any, character: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/agents", json={"characterJson": character})
    body = await response.get_json()
    assert response.status_code == 201, body
    data: dict[str, Any] = body["data"]
    return data


async def get_agent(client: Any, agent_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/agents/{agent_id}")
    assert response.status_code == 200
    data: dict[str, Any] = (await response.get_json())["data"]
    return data


async def test_fresh_server_has_the_default_eliza_agent_running(client: Any) -> None:
    response = await client.get("/api/agents")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["success"] is True
    [agent] = body["data"]["agents"]
    assert agent["name"] == agent["characterName"] == "Eliza"
    assert agent["status"] == "active"
    assert agent["id"] == ids.string_to_uuid("Eliza")
    assert isinstance(agent["bio"], str)
    assert agent["bio"]

    detail = await get_agent(client, agent["id"])
    assert detail.keys() >= AGENT_KEYS
    assert detail["server_id"] == ids.DEFAULT_SERVER_ID
    assert detail["status"] == "active"
    assert isinstance(detail["createdAt"], int)


async def test_default_agent_can_be_turned_off(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    async with open_app(settings) as app:
        response = await app.test_client().get("/api/agents")
        assert (await response.get_json())["data"] == {"agents": []}


async def test_create_start_stop_delete_cycle(client: Any, agent_server: AgentServer) -> None:
    created = await create(client, {"name": "Cycle", "bio": "A test agent."})
    agent_id = created["id"]
    assert agent_id == ids.string_to_uuid("Cycle")
    assert created["character"]["name"] == "Cycle"
    assert (await get_agent(client, agent_id))["status"] == "inactive"

    # Creating the same character again returns the existing agent (as ElizaOS does).
    again = await create(client, {"name": "Cycle", "bio": "Another bio."})
    assert again["id"] == agent_id
    assert (await get_agent(client, agent_id))["bio"] == "A test agent."

    # The api-client sends bodiless POSTs with a JSON content type.
    response = await client.post(f"/api/agents/{agent_id}/start", data=b"", headers=JSON)
    assert response.status_code == 200
    assert (await response.get_json())["data"] == {"id": agent_id, "name": "Cycle",
                                                    "status": "active"}
    # Starting a running agent is fine and changes nothing.
    response = await client.post(f"/api/agents/{agent_id}/start", data=b"", headers=JSON)
    assert response.status_code == 200
    assert agent_server.agents.runtime(agent_id) is not None

    listing = (await (await client.get("/api/agents")).get_json())["data"]["agents"]
    assert [(a["name"], a["status"]) for a in listing] == [("Cycle", "active"),
                                                           ("Eliza", "active")]
    status = await (await client.get("/api/server/status")).get_json()
    assert status["agentCount"] == 2

    response = await client.post(f"/api/agents/{agent_id}/stop", data=b"", headers=JSON)
    assert response.status_code == 200
    assert (await response.get_json())["data"] == {"message": "Agent stopped"}
    assert (await get_agent(client, agent_id))["status"] == "inactive"
    assert agent_server.agents.runtime(agent_id) is None
    response = await client.post(f"/api/agents/{agent_id}/stop", data=b"", headers=JSON)
    assert response.status_code == 404

    response = await client.delete(f"/api/agents/{agent_id}")
    assert response.status_code == 204
    assert await response.get_data() == b""
    assert (await client.get(f"/api/agents/{agent_id}")).status_code == 404
    assert (await client.delete(f"/api/agents/{agent_id}")).status_code == 404
    listing = (await (await client.get("/api/agents")).get_json())["data"]["agents"]
    assert [a["name"] for a in listing] == ["Eliza"]


async def test_deleting_a_running_agent_stops_it(client: Any, agent_server: AgentServer) -> None:
    agent_id = (await create(client, {"name": "Doomed"}))["id"]
    assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 200
    response = await client.delete(f"/api/agents/{agent_id}")
    assert response.status_code == 204
    assert agent_server.agents.runtime(agent_id) is None
    assert (await (await client.get("/api/server/status")).get_json())["agentCount"] == 1


async def test_patch_deep_merges_settings_and_restarts_a_running_agent(
    client: Any, agent_server: AgentServer
) -> None:
    agent_id = (await create(client, {
        "name": "Patchy",
        "bio": ["first"],
        "topics": ["a"],
        "settings": {"model": "small", "voice": {"name": "alto", "speed": 1}, "drop": "me"},
    }))["id"]
    assert (await client.post(f"/api/agents/{agent_id}/start")).status_code == 200
    before = agent_server.agents.runtime(agent_id)
    assert before is not None

    response = await client.patch(f"/api/agents/{agent_id}", json={
        "settings": {"voice": {"speed": 2}, "extra": True, "drop": None},
        "topics": ["b", "c"],
    })
    assert response.status_code == 200
    data = (await response.get_json())["data"]
    assert data["settings"] == {"model": "small", "voice": {"name": "alto", "speed": 2},
                                "extra": True}
    assert data["topics"] == ["b", "c"]  # lists are replaced, not merged
    assert data["bio"] == ["first"]
    assert data["status"] == "active"

    after = agent_server.agents.runtime(agent_id)
    assert after is not None
    assert after is not before
    assert after.get_setting("voice") == {"name": "alto", "speed": 2}
    assert (await get_agent(client, agent_id))["settings"]["extra"] is True

    # A stopped agent is updated without being started.
    await client.post(f"/api/agents/{agent_id}/stop")
    response = await client.patch(f"/api/agents/{agent_id}", json={"bio": ["second"]})
    assert (await response.get_json())["data"]["status"] == "inactive"
    assert agent_server.agents.runtime(agent_id) is None


async def test_patch_without_changes_is_a_bad_request(client: Any) -> None:
    agent_id = ids.string_to_uuid("Eliza")
    response = await client.patch(f"/api/agents/{agent_id}", data=b"", headers=JSON)
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "BAD_REQUEST"


async def test_secrets_are_masked_and_a_masked_patch_keeps_them(
    client: Any, agent_server: AgentServer, settings: Any
) -> None:
    created = await create(client, {
        "name": "Secretive",
        "settings": {"secrets": {"OPENAI_API_KEY": "sk-live-123", "OTHER": "x-1"}},
        "secrets": {"TOP_LEVEL": "top-secret"},
    })
    agent_id = created["id"]
    for view in (created["character"], await get_agent(client, agent_id)):
        assert view["settings"]["secrets"] == {"OPENAI_API_KEY": "********", "OTHER": "********"}
        assert view["secrets"] == {"TOP_LEVEL": "********"}
        assert "sk-live-123" not in json.dumps(view)
    # Encrypted at rest, too.
    assert "sk-live-123" not in str(await agent_server.store.read(
        lambda tx: list(tx.query("SELECT * FROM agents"))))

    await client.post(f"/api/agents/{agent_id}/start")
    runtime = agent_server.agents.runtime(agent_id)
    assert runtime is not None
    assert runtime.get_setting("OPENAI_API_KEY") == "sk-live-123"

    # The web UI sends the masked form back with its edit: the secret stays as it was.
    response = await client.patch(f"/api/agents/{agent_id}", json={
        "settings": {"secrets": {"OPENAI_API_KEY": "********", "OTHER": "x-2"}},
        "secrets": {"TOP_LEVEL": "********"},
    })
    body = await response.get_json()
    assert response.status_code == 200
    assert "sk-live-123" not in json.dumps(body)
    runtime = agent_server.agents.runtime(agent_id)
    assert runtime is not None
    assert runtime.get_setting("OPENAI_API_KEY") == "sk-live-123"
    assert runtime.get_setting("OTHER") == "x-2"
    assert runtime.get_setting("TOP_LEVEL") == "top-secret"

    # null deletes a secret.
    await client.patch(f"/api/agents/{agent_id}",
                       json={"settings": {"secrets": {"OTHER": None}}})
    view = await get_agent(client, agent_id)
    assert view["settings"]["secrets"] == {"OPENAI_API_KEY": "********"}


async def test_process_environment_never_leaks_into_an_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAKY_PROCESS_SECRET", "proc-value-1")
    monkeypatch.setenv("CHARACTER.LEAKY.API_KEY", "proc-value-2")
    settings = make_settings(tmp_path, LEAKY_PROCESS_SECRET="proc-value-1",
                             OPENAI_API_KEY="proc-value-3")
    async with open_app(settings) as app:
        client = app.test_client()
        server: AgentServer = app.app.config["ELIZA_SERVER"]
        agent_id = (await create(client, {"name": "Leaky", "settings": {"secrets": {}}}))["id"]
        await client.post(f"/api/agents/{agent_id}/start")
        response = await client.patch(f"/api/agents/{agent_id}", json={"bio": ["updated"]})
        text = json.dumps(await response.get_json()) + json.dumps(await get_agent(client, agent_id))
        assert "proc-value" not in text
        assert "PWD" not in text
        assert "HOME" not in text
        runtime = server.agents.runtime(agent_id)
        assert runtime is not None
        for key in ("LEAKY_PROCESS_SECRET", "OPENAI_API_KEY", "API_KEY", "HOME"):
            assert runtime.get_setting(key) is None
        assert os.environ["LEAKY_PROCESS_SECRET"] == "proc-value-1"


# -- characterPath: the characters directory and public URLs only -----------------------


@pytest.fixture
def characters(settings: Any) -> Path:
    directory: Path = settings.characters_dir
    (directory / "nested").mkdir(parents=True)
    (directory / "good.json").write_text(json.dumps({"name": "FromFile", "bio": "on disk"}))
    (directory / "nested" / "deep.json").write_text(json.dumps({"name": "Deep"}))
    (directory.parent / "outside.json").write_text(json.dumps({"name": "Outside"}))
    (directory / "link.json").symlink_to(directory.parent / "outside.json")
    return directory


async def test_character_path_reads_files_under_the_characters_dir(
    client: Any, characters: Path
) -> None:
    for path, name in (("good.json", "FromFile"), ("nested/deep.json", "Deep"),
                       (str(characters / "nested" / "deep.json"), "Deep")):
        response = await client.post("/api/agents", json={"characterPath": path})
        assert response.status_code == 201, await response.get_json()
        assert (await response.get_json())["data"]["character"]["name"] == name


@pytest.mark.parametrize("path", ["../outside.json", "nested/../../outside.json", "link.json",
                                  "ABSOLUTE_OUTSIDE", "/etc/passwd"])
async def test_character_path_outside_the_characters_dir_is_forbidden(
    client: Any, characters: Path, path: str
) -> None:
    if path == "ABSOLUTE_OUTSIDE":
        path = str(characters.parent / "outside.json")
    response = await client.post("/api/agents", json={"characterPath": path})
    assert response.status_code == 403
    body = await response.get_json()
    assert body["success"] is False
    assert body["error"]["code"] == "FORBIDDEN"
    listing = (await (await client.get("/api/agents")).get_json())["data"]["agents"]
    assert "Outside" not in [a["name"] for a in listing]


async def test_character_path_missing_file_is_a_bad_request(client: Any, characters: Path
                                                            ) -> None:
    response = await client.post("/api/agents", json={"characterPath": "nope.json"})
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/character.json",
                                 "http://localhost:3000/api/system/env/local",
                                 "http://10.1.2.3/c.json", "http://169.254.169.254/latest/",
                                 "http://[::1]/c.json"])
async def test_character_url_to_a_private_address_is_refused(client: Any, url: str) -> None:
    response = await client.post("/api/agents", json={"characterPath": url})
    assert response.status_code == 403
    assert (await response.get_json())["error"]["code"] == "FORBIDDEN"
