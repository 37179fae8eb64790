"""Every error status the server answers: always JSON
`{success: false, error: {code, message, details?}}` with a stable code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import make_settings, open_app
from eliza import ids
from eliza.server import AgentServer

JSON = {"Content-Type": "application/json"}
UNKNOWN = "00000000-0000-4000-8000-00000000abcd"


async def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, await response.get_data()
    assert response.headers["Content-Type"].startswith("application/json")
    body = await response.get_json()
    assert body["success"] is False
    assert set(body["error"]) <= {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    code = body["error"]["code"]
    assert isinstance(code, str)
    assert code == code.upper()
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize("raw", [b"{bad json", b'{"a": 1', b"\xff\xfe", b"[1, 2]", b'"text"'])
async def test_malformed_or_non_object_json_is_400_bad_request(client: Any, raw: bytes) -> None:
    response = await client.post("/api/agents", data=raw, headers=JSON)
    assert (await error_of(response, 400))["code"] == "BAD_REQUEST"


async def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, EXPRESS_MAX_PAYLOAD="1kb")
    body = b'{"characterJson": {"name": "Big", "bio": "' + b"x" * 2000 + b'"}}'
    async with open_app(settings) as app:
        client = app.test_client()
        # Announced by Content-Length (rejected before the body is read) ...
        response = await client.post("/api/agents", data=body,
                                     headers={**JSON, "Content-Length": str(len(body))})
        assert (await error_of(response, 413))["code"] == "PAYLOAD_TOO_LARGE"
        # ... or found while reading it.
        response = await client.post("/api/agents", data=body, headers=JSON)
        assert (await error_of(response, 413))["code"] == "PAYLOAD_TOO_LARGE"
        # Just under the limit is fine.
        small = b'{"characterJson": {"name": "Small", "bio": "' + b"x" * 900 + b'"}}'
        response = await client.post("/api/agents", data=small, headers=JSON)
        assert response.status_code == 201


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/nope"), ("POST", "/api/nope"), ("GET", "/api/agents/x/y/z"),
    ("DELETE", "/api/server/nothing"), ("GET", "/api/nowhere/anything"),
])
async def test_unknown_api_path_is_json_404(client: Any, method: str, path: str) -> None:
    response = await client.open(path, method=method)
    assert (await error_of(response, 404))["code"] == "NOT_FOUND"


async def test_wrong_method_on_a_known_path_is_json(client: Any) -> None:
    response = await client.put("/api/server/ping")
    error = await error_of(response, 405)
    assert error["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(("method", "suffix"), [
    ("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/start"), ("POST", "/stop"),
])
async def test_bad_agent_id_is_400_invalid_id(client: Any, method: str, suffix: str) -> None:
    for bad in ("not-a-uuid", "1234", "b850bc30-45f8-0041-a00a-83df46d8555"):
        response = await client.open(f"/api/agents/{bad}{suffix}", method=method,
                                     json={"name": "x"} if method == "PATCH" else None)
        error = await error_of(response, 400)
        assert error == {"code": "INVALID_ID", "message": "Invalid agent ID format",
                         "details": {"field": "agentId", "problem": "must be a UUID"}}


@pytest.mark.parametrize(("method", "suffix"), [
    ("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/start"), ("POST", "/stop"),
])
async def test_unknown_agent_is_404(client: Any, method: str, suffix: str) -> None:
    response = await client.open(f"/api/agents/{UNKNOWN}{suffix}", method=method,
                                 json={"name": "x"} if method == "PATCH" else None)
    error = await error_of(response, 404)
    assert error["code"] == "NOT_FOUND"
    assert error["message"] == "Agent not found"


@pytest.mark.parametrize("character", [
    {"bio": "no name"},
    {"name": ""},
    {"name": "X", "bio": 5},
    {"name": "X", "topics": "not a list"},
    {"name": "X", "settings": []},
    {"name": "X", "messageExamples": [{"not": "a conversation"}]},
    {"name": "X", "style": {"all": "string"}},
])
async def test_invalid_character_is_400_invalid_character(
    client: Any, character: dict[str, Any]
) -> None:
    response = await client.post("/api/agents", json={"characterJson": character})
    error = await error_of(response, 400)
    assert error["code"] == "INVALID_CHARACTER"
    assert error["details"]
    listing = (await (await client.get("/api/agents")).get_json())["data"]["agents"]
    assert [a["name"] for a in listing] == ["Eliza"]


async def test_invalid_patch_is_400_invalid_character_and_changes_nothing(client: Any) -> None:
    agent_id = ids.string_to_uuid("Eliza")
    response = await client.patch(f"/api/agents/{agent_id}", json={"topics": "nope"})
    assert (await error_of(response, 400))["code"] == "INVALID_CHARACTER"
    agent = (await (await client.get(f"/api/agents/{agent_id}")).get_json())["data"]
    assert agent["topics"] == ["feelings", "family", "dreams"]


async def test_create_without_a_character_is_400(client: Any) -> None:
    response = await client.post("/api/agents", data=b"", headers=JSON)
    assert (await error_of(response, 400))["code"] == "BAD_REQUEST"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
async def test_wrong_content_type_is_400(client: Any, content_type: str | None) -> None:
    body = b'{"characterJson": {"name": "Typed"}}'
    headers = {"Content-Length": str(len(body))}
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post("/api/agents", data=body, headers=headers)
    error = await error_of(response, 400)
    assert error["code"] == "INVALID_CONTENT_TYPE"
    listing = (await (await client.get("/api/agents")).get_json())["data"]["agents"]
    assert "Typed" not in [a["name"] for a in listing]


async def test_unexpected_failure_is_500_internal_error(
    client: Any, agent_server: AgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(agent_id: str) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(agent_server.agents, "start", broken)
    response = await client.post(f"/api/agents/{ids.string_to_uuid('Eliza')}/start")
    error = await error_of(response, 500)
    assert error["code"] == "INTERNAL_ERROR"
    assert "disk on fire" not in error["message"]  # internals are logged, not sent
    assert (await client.get("/api/server/ping")).status_code == 200
