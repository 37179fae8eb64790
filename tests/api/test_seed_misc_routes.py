"""The routes the ElizaOS API overview lists beyond the core ones: one message server by id,
the `/upload` aliases, media files by id, the debug snapshot, the masked environment and
the capabilities, and `/api/tee` (501 unless a `tee` plugin serves it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from conftest import make_settings, open_app
from eliza import Route, hookimpl
from eliza.plugins import make_plugin_manager
from eliza.server import AgentServer
from eliza.settings import RateLimit, Settings
from tests.media.helpers import CONTENT_TYPE, ELF, SAMPLES, file_body, new_id
from tests.plugins.conftest import start_agent

LOCAL = {"client": ("127.0.0.1", 40000)}
REMOTE = {"client": ("10.0.0.5", 1234)}
PNG = SAMPLES["image/png"][0]


async def _json(response: Any) -> tuple[int, dict[str, Any]]:
    return response.status_code, await response.get_json()


async def _upload(client: Any, path: str, content: bytes = PNG, mime: str = "image/png"
                  ) -> tuple[int, dict[str, Any]]:
    return await _json(await client.post(path, data=file_body(content, mime, "cat.png"),
                                         headers={"Content-Type": CONTENT_TYPE}))


# -- GET /api/messaging/servers/:serverId -------------------------------------------------


@pytest.mark.parametrize(("prefix", "listing"), [("servers", "servers"),
                                                 ("message-servers", "messageServers"),
                                                 ("central-servers", "servers")])
async def test_one_message_server_by_id(client: Any, prefix: str, listing: str) -> None:
    status, body = await _json(await client.post(
        f"/api/messaging/{prefix}", json={"name": "Discord guild", "sourceType": "discord"}))
    assert status == 201, body
    created = body["data"]["server"]
    status, body = await _json(await client.get(f"/api/messaging/{prefix}/{created['id']}"))
    assert (status, body) == (200, {"success": True, "data": {"server": created}})
    listed = (await (await client.get(f"/api/messaging/{prefix}")).get_json())["data"][listing]
    assert created in listed

    status, body = await _json(await client.get(f"/api/messaging/{prefix}/{new_id()}"))
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    status, body = await _json(await client.get(f"/api/messaging/{prefix}/not-a-uuid"))
    assert (status, body["error"]["code"]) == (400, "INVALID_ID")


# -- POST /api/media/{agents,channels}/:id/upload -------------------------------------------


@pytest.mark.parametrize(("kind", "directory"), [("agents", "uploads_agents_dir"),
                                                 ("channels", "uploads_channels_dir")])
async def test_upload_aliases_store_and_refuse_as_upload_media(
        client: Any, settings: Settings, kind: str, directory: str) -> None:
    entity = new_id()
    status, body = await _upload(client, f"/api/media/{kind}/{entity}/upload")
    assert status == 200, body
    data = body["data"]
    assert data["url"] == f"/media/uploads/{kind}/{entity}/{data['filename']}"
    assert data["originalName"] == "cat.png"
    assert data["size"] == len(PNG)
    assert data["id"] == f"{kind[:-1]}.{entity}.{data['filename']}"
    assert (getattr(settings, directory) / entity / data["filename"]).read_bytes() == PNG
    served = await client.get(data["url"])
    assert (served.status_code, await served.get_data()) == (200, PNG)

    # The same sniffing as upload-media: an executable called a PNG is refused, not stored.
    status, body = await _upload(client, f"/api/media/{kind}/{new_id()}/upload", ELF)
    assert status == 415, body
    status, body = await _upload(client, f"/api/media/{kind}/not-a-uuid/upload")
    assert (status, body["error"]["code"]) == (400, "INVALID_ID")
    assert [p.name for p in getattr(settings, directory).rglob("*") if p.is_file()] == [
        data["filename"]]


# -- GET/DELETE /api/media/files/:fileId ----------------------------------------------------


async def test_a_media_file_is_served_and_deleted_by_its_id(client: Any,
                                                            settings: Settings) -> None:
    channel = new_id()
    _, body = await _upload(client, f"/api/media/channels/{channel}/upload-media")
    file_id = body["data"]["id"]
    stored = settings.uploads_channels_dir / channel / body["data"]["filename"]

    served = await client.get(f"/api/media/files/{file_id}")
    assert served.status_code == 200
    assert await served.get_data() == PNG
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"

    status, body = await _json(await client.delete(f"/api/media/files/{file_id}"))
    assert (status, body) == (200, {"success": True, "data": {"id": file_id, "deleted": True}})
    assert not stored.exists()
    status, body = await _json(await client.get(f"/api/media/files/{file_id}"))
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    status, body = await _json(await client.delete(f"/api/media/files/{file_id}"))
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    served = await client.get(f"/media/uploads/channels/{channel}/{stored.name}")
    assert served.status_code == 404


async def test_deleting_files_counts_against_the_file_operation_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_RATE_LIMIT="on").with_overrides(
        upload_rate_limit=RateLimit(100, 60), file_rate_limit=RateLimit(3, 60))
    async with open_app(settings) as app:
        client = app.test_client()
        ids = [(await _upload(client, f"/api/media/agents/{new_id()}/upload"))[1]["data"]["id"]
               for _ in range(2)]
        # Two uploads and one delete use the three file operations; reading uses none (as
        # the /media/* URLs do not).
        for _ in range(5):
            assert (await client.get(f"/api/media/files/{ids[0]}")).status_code == 200
        assert (await client.delete(f"/api/media/files/{ids[0]}")).status_code == 200
        status, body = await _json(await client.delete(f"/api/media/files/{ids[1]}"))
        assert (status, body["error"]["code"]) == (429, "RATE_LIMIT_EXCEEDED")
        assert (await client.get(f"/api/media/files/{ids[1]}")).status_code == 200


async def test_generated_media_has_an_id_too(client: Any, settings: Settings) -> None:
    agent = new_id()
    (settings.generated_dir / agent).mkdir(parents=True)
    (settings.generated_dir / agent / "reply.txt").write_text("generated")
    served = await client.get(f"/api/media/files/generated.{agent}.reply.txt")
    assert (served.status_code, await served.get_data()) == (200, b"generated")
    assert served.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(("file_id", "code"), [
    ("cat.png", "INVALID_FILE_ID"),
    ("secrets.{entity}.cat.png", "INVALID_FILE_ID"),
    ("agent.{entity}.", "INVALID_FILE_ID"),
    ("agent.not-a-uuid.cat.png", "INVALID_ID"),
    ("agent.{entity}...", "INVALID_FILENAME"),
    ("agent.{entity}.{dotdot}", "INVALID_FILENAME"),
    ("agent.{entity}..env", "INVALID_FILENAME"),
    ("agent.{entity}.a\\b.png", "INVALID_FILENAME"),
])
async def test_media_file_ids_cannot_leave_their_directory(
        client: Any, settings: Settings, file_id: str, code: str) -> None:
    entity = new_id()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = settings.data_dir / ".env"
    secret.write_text("SECRET=1\n")
    path = quote(file_id.format(entity=entity, dotdot=".."), safe=".")
    for method in ("GET", "DELETE"):
        status, body = await _json(await client.open(f"/api/media/files/{path}", method=method))
        assert (status, body["error"]["code"]) == (400, code), (method, file_id)
    assert secret.read_text() == "SECRET=1\n"


# -- GET /api/server/debug/state ------------------------------------------------------------


async def test_debug_state_lists_agents_queues_and_connections(
        client: Any, agent_server: AgentServer) -> None:
    status, body = await _json(await client.get("/api/server/debug/state", scope_base=LOCAL))
    assert status == 200, body
    state = body["data"]
    assert state["worker"]["pid"] == agent_server.worker.pid
    (agent,) = state["agents"]
    assert (agent["name"], agent["status"], agent["runsOn"]) == ("Eliza", "active", "local")
    assert "TEXT_LARGE" in agent["models"]
    assert agent["turns"] == 0
    assert state["queues"]["sseLogStreams"]["streams"] == 0
    assert state["queues"]["socketLogStream"]["capacity"] > 0
    assert "published" in state["queues"]["bus"]
    assert state["connections"]["socketio"]["sockets"] == 0
    assert state["connections"]["sseLogStreams"] == 0
    assert state["connections"]["sessions"] == {"active": 0, "expired": 0}

    await client.post(f"/api/agents/{agent['id']}/stop")
    stopped = (await (await client.get("/api/runtime/debug/state",
                                       scope_base=LOCAL)).get_json())["data"]["agents"][0]
    assert (stopped["status"], stopped["runsOn"]) == ("inactive", None)
    assert "models" not in stopped


async def test_debug_state_is_for_local_clients_or_the_api_key(client: Any,
                                                               tmp_path: Path) -> None:
    status, body = await _json(await client.get("/api/server/debug/state", scope_base=REMOTE))
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
    settings = make_settings(tmp_path / "keyed", ELIZA_SERVER_AUTH_TOKEN="k3y")
    async with open_app(settings) as app:
        keyed = app.test_client()
        response = await keyed.get("/api/server/debug/state", scope_base=REMOTE)
        assert response.status_code == 401
        response = await keyed.get("/api/server/debug/state", scope_base=REMOTE,
                                   headers={"X-API-KEY": "k3y"})
        assert response.status_code == 200


# -- GET /api/system/env, GET /api/system/capabilities --------------------------------------


async def test_env_masks_every_secret(tmp_path: Path) -> None:
    secrets = {"OPENAI_API_KEY": "sk-raw-openai", "ELIZA_SERVER_AUTH_TOKEN": "raw-auth-token",
               "SECRET_SALT": "raw-salt-value", "MY_PASSWORD": "raw-pass-word",
               "REDIS_URL": "redis://user:raw-url-password@cache:6379/0"}
    settings = make_settings(tmp_path, **secrets, PLAIN_SETTING="visible-value")
    async with open_app(settings) as app:
        client = app.test_client()
        response = await client.get("/api/system/env", scope_base=LOCAL,
                                    headers={"X-API-KEY": "raw-auth-token"})
        text = await response.get_data(as_text=True)
        status, body = response.status_code, json.loads(text)
        assert status == 200, body
        for raw in secrets.values():
            assert raw not in text, raw
        env = body["data"]["environment"]
        assert env["OPENAI_API_KEY"] == env["MY_PASSWORD"] == "********"
        assert env["REDIS_URL"] == "redis://user:********@cache:6379/0"
        assert env["PLAIN_SETTING"] == "visible-value"
        shown = body["data"]["settings"]
        assert shown["auth_token"] == shown["secret_salt"] == "********"
        assert shown["port"] == settings.port
        assert shown["data_dir"] == str(settings.data_dir)
        assert shown["api_rate_limit"] == {"limit": 1000, "window": 900}
        response = await client.get("/api/system/env", scope_base=LOCAL)
        assert response.status_code == 401


async def test_env_is_for_local_clients_while_auth_is_off(client: Any) -> None:
    status, body = await _json(await client.get("/api/system/env", scope_base=REMOTE))
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
    assert (await client.get("/api/system/env", scope_base=LOCAL)).status_code == 200


async def test_capabilities(client: Any, agent_server: AgentServer, backend: Any) -> None:
    status, body = await _json(await client.get("/api/system/capabilities"))
    assert status == 200, body
    caps = body["data"]
    assert caps["store"] == agent_server.store.dialect == (
        "postgresql" if backend.name == "postgres" else "sqlite")
    assert {"TEXT_LARGE", "TEXT_SMALL"} <= set(caps["models"]["types"])
    assert caps["models"]["byPlugin"]["eliza.runtime.default_model"]
    assert caps["search"]["text"] == {"enabled": True}
    semantic = caps["search"]["semantic"]
    assert semantic["store"] == agent_server.store.vectors
    assert semantic["enabled"] is False  # the ELIZA model has no embeddings
    assert semantic["reason"]
    # One process: an in-memory bus; on PostgreSQL the workers share its LISTEN/NOTIFY.
    assert caps["bus"] == ({"kind": "postgres", "shared": True} if backend.name == "postgres"
                           else {"kind": "memory", "shared": False})
    assert "eliza.runtime.default_model" in caps["plugins"]
    assert caps["tee"] is False
    assert caps["version"]
    assert caps["auth"] == {"apiKey": False}


# -- /api/tee -------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/tee"), ("POST", "/api/tee/attest"),
                                              ("DELETE", "/api/tee/keys/a/b")])
async def test_tee_is_not_implemented(client: Any, method: str, path: str) -> None:
    status, body = await _json(await client.open(path, method=method))
    assert status == 501
    assert body["success"] is False
    assert body["error"]["code"] == "NOT_IMPLEMENTED"
    assert "not implemented" in body["error"]["message"]


class TeePlugin:
    @hookimpl
    def register_routes(self, server: Any) -> list[Route]:
        async def attest(request: Any, runtime: Any) -> dict[str, Any]:
            return {"quote": "from-plugin", "agent": runtime.agent_id}

        return [Route("GET", "/attest", attest)]


async def test_a_tee_plugin_serves_api_tee(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    server = AgentServer(settings, make_plugin_manager(allow=[], extra=[("tee", TeePlugin())]))
    async with open_app(settings, server) as app:
        client = app.test_client()
        agent = await start_agent(server, "Enclave", ["tee"])
        status, body = await _json(await client.get("/api/tee/attest"))
        assert (status, body) == (200, {"quote": "from-plugin", "agent": agent})
        caps = (await (await client.get("/api/system/capabilities")).get_json())["data"]
        assert caps["tee"] is True
        # What the plugin does not serve is its 404, not the placeholder's 501.
        status, body = await _json(await client.get("/api/tee/other"))
        assert status == 404
