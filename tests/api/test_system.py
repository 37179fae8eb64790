"""`/api/system`: the version route, and env/local (it can write the server's
`.env`, so: local clients only while auth is off; reads and writes only
$ELIZA_DATA_DIR/.env; a write merges keys)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

from conftest import make_settings, open_app
from eliza.settings import Settings

LOCAL = {"client": ("127.0.0.1", 40000)}
LOCAL6 = {"client": ("::1", 40000)}
REMOTE = {"client": ("10.0.0.5", 1234)}


async def test_version_shape(client: Any) -> None:
    response = await client.get("/api/system/version")
    assert response.status_code == 200
    body = await response.get_json()
    assert "success" not in body  # raw, as the web UI's fetch expects
    assert {"version", "source", "timestamp", "environment", "uptime"} <= body.keys()
    assert isinstance(body["version"], str)
    assert body["version"]
    assert body["source"] == "server"
    assert body["environment"] == "development"
    assert isinstance(body["uptime"], int | float)
    assert body["uptime"] >= 0
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))


@pytest.mark.parametrize(("env", "expected"), [
    ({"ELIZA_ENV": "production", "NODE_ENV": "test"}, "production"),
    ({"NODE_ENV": "staging"}, "staging"),
])
async def test_version_reports_the_environment(tmp_path: Path, env: dict[str, str],
                                               expected: str) -> None:
    async with open_app(make_settings(tmp_path, **env)) as app:
        body = await (await app.test_client().get("/api/system/version")).get_json()
        assert body["environment"] == expected


@pytest.mark.parametrize("scope", [LOCAL, LOCAL6])
async def test_env_local_reads_only_the_data_dir_env(
    client: Any, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    scope: dict[str, Any]
) -> None:
    response = await client.get("/api/system/env/local", scope_base=scope)
    assert response.status_code == 200
    assert await response.get_json() == {"success": True, "data": {}}

    (tmp_path / ".env").write_text("FROM_CWD=cwd-value\n")
    monkeypatch.setenv("FROM_PROCESS", "process-value")
    settings.env_file.write_text("A=1\nB='two words'\n")
    response = await client.get("/api/system/env/local", scope_base=scope)
    assert (await response.get_json())["data"] == {"A": "1", "B": "two words"}


async def test_env_local_write_merges_keys(client: Any, settings: Settings, tmp_path: Path
                                           ) -> None:
    (tmp_path / ".env").write_text("FROM_CWD=cwd-value\n")
    settings.env_file.write_text("# my settings\nKEEP=me\nCHANGE=old\n")
    response = await client.post("/api/system/env/local", scope_base=LOCAL,
                                 json={"content": {"CHANGE": "new", "ADDED": "with space"}})
    assert response.status_code == 200
    assert (await response.get_json())["success"] is True
    assert dotenv_values(settings.env_file) == {"KEEP": "me", "CHANGE": "new",
                                                "ADDED": "with space"}
    assert "# my settings" in settings.env_file.read_text()
    assert (tmp_path / ".env").read_text() == "FROM_CWD=cwd-value\n"

    response = await client.get("/api/system/env/local", scope_base=LOCAL)
    assert (await response.get_json())["data"] == {"KEEP": "me", "CHANGE": "new",
                                                   "ADDED": "with space"}


async def test_env_local_write_creates_the_file(client: Any, settings: Settings) -> None:
    assert not settings.env_file.exists()
    response = await client.post("/api/system/env/local", scope_base=LOCAL,
                                 json={"content": {"NEW_KEY": "v"}})
    assert response.status_code == 200
    assert dotenv_values(settings.env_file) == {"NEW_KEY": "v"}


@pytest.mark.parametrize("body", [{}, {"content": "A=1"}, {"content": {"": "x"}},
                                  {"content": {"A=B": "x"}}, {"content": {"A": {"x": 1}}}])
async def test_env_local_rejects_bad_input(client: Any, settings: Settings,
                                           body: dict[str, Any]) -> None:
    settings.env_file.write_text("KEEP=me\n")
    response = await client.post("/api/system/env/local", scope_base=LOCAL, json=body)
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] in ("INVALID_INPUT", "BAD_REQUEST")
    assert settings.env_file.read_text() == "KEEP=me\n"


async def test_env_local_is_forbidden_to_remote_clients_while_auth_is_off(
    client: Any, settings: Settings
) -> None:
    settings.env_file.write_text("SECRET=value\n")
    response = await client.get("/api/system/env/local", scope_base=REMOTE)
    assert response.status_code == 403
    body = await response.get_json()
    assert body["success"] is False
    assert body["error"]["code"] == "FORBIDDEN"
    assert "value" not in str(body)
    response = await client.post("/api/system/env/local", scope_base=REMOTE,
                                 json={"content": {"SECRET": "stolen"}})
    assert response.status_code == 403
    assert settings.env_file.read_text() == "SECRET=value\n"


async def test_env_local_with_auth_on_needs_the_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_SERVER_AUTH_TOKEN="k3y")
    async with open_app(settings) as app:
        client = app.test_client()
        response = await client.get("/api/system/env/local", scope_base=LOCAL)
        assert response.status_code == 401
        response = await client.post("/api/system/env/local", scope_base=REMOTE,
                                     headers={"X-API-KEY": "k3y"},
                                     json={"content": {"REMOTE_OK": "1"}})
        assert response.status_code == 200
        response = await client.get("/api/system/env/local", scope_base=REMOTE,
                                    headers={"X-API-KEY": "k3y"})
        assert (await response.get_json())["data"] == {"REMOTE_OK": "1"}


# A proxy on this machine (nginx, on loopback) relaying a remote client.
PROXIED = {"client": ("127.0.0.1", 40000),
           "headers": [(b"x-forwarded-for", b"203.0.113.7")]}
PROXIED_LOCAL = {"client": ("127.0.0.1", 40000),
                 "headers": [(b"x-forwarded-for", b"127.0.0.1")]}
RFC_FORWARDED = {"client": ("127.0.0.1", 40000),
                 "headers": [(b"forwarded", b"for=203.0.113.7")]}


@pytest.mark.parametrize(("trusted", "scope", "allowed"), [
    ("", PROXIED, False),  # an untrusted proxy's relay may come from anywhere
    ("", PROXIED_LOCAL, False),  # ...and its header cannot be believed
    ("127.0.0.1", PROXIED, False),  # a trusted proxy relaying a remote client
    ("127.0.0.1", PROXIED_LOCAL, True),  # a trusted proxy relaying a local one
    ("127.0.0.1", RFC_FORWARDED, False),  # a relay named only in `Forwarded` (not read)
])
async def test_env_local_behind_a_proxy_answers_only_a_local_client(
        tmp_path: Path, trusted: str, scope: dict[str, Any], allowed: bool) -> None:
    settings = make_settings(tmp_path, ELIZA_TRUSTED_PROXIES=trusted)
    async with open_app(settings) as app:
        client = app.test_client()
        read = await client.get("/api/system/env/local", scope_base=scope)
        write = await client.post("/api/system/env/local", scope_base=scope,
                                  json={"content": {"SET_BY": "proxy"}})
    assert read.status_code == write.status_code == (200 if allowed else 403)
    if not allowed:
        assert (await read.get_json())["error"]["code"] == "FORBIDDEN"
        assert "SET_BY" not in (settings.env_file.read_text()
                                if settings.env_file.exists() else "")
