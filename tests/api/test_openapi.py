"""`GET /api/openapi.json`: the OpenAPI 3.1 contract built from the route declarations
(eliza/api/contract.py). Every /api route is declared (UNDECLARED below would list one that
cannot be, with its reason), so a declaration that goes missing fails here, and so does a new
route nobody declared."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from conftest import make_settings, open_app
from tests.api.hostile import ok_json, refused
from tests.messaging.helpers import ELIZA_ID

# Routes that cannot be declared, each with its reason. None today: every core route under
# /api is declared, so one that loses its declaration (or a new one nobody declared) fails.
UNDECLARED: set[tuple[str, str]] = set()
# Served by the plugin dispatcher (a `before_request` hook, no URL rule), declared by hand.
DISPATCHED = {(method, f"/api/{{plugin}}{rest}") for method in
              ("GET", "POST", "PUT", "PATCH", "DELETE") for rest in ("", "/{rest}")}


def api_routes(app: Any) -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", rule.rule)
            routes |= {(method, path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


async def test_the_contract_is_valid_openapi_and_public(tmp_path: Path) -> None:
    async with open_app(make_settings(tmp_path, ELIZA_SERVER_AUTH_TOKEN="secret")) as app:
        client = app.test_client()
        await refused(await client.get("/api/agents"), 401, "UNAUTHORIZED")
        document = await ok_json(await client.get("/api/openapi.json"))
        validate(document)  # raises on anything that is not OpenAPI 3.1
        assert document["openapi"] == "3.1.0"
        declared = {(method.upper(), path) for path, operations in document["paths"].items()
                    for method in operations}
        routes = api_routes(app.app)
    missing = sorted(routes - declared - UNDECLARED)
    assert not missing, f"routes without a declaration: {missing}"
    assert declared >= DISPATCHED, sorted(DISPATCHED - declared)
    stale = sorted(UNDECLARED & declared)
    assert not stale, f"declared now, take them off UNDECLARED: {stale}"
    assert not UNDECLARED - routes, sorted(UNDECLARED - routes)
    assert len(declared) >= 150


async def test_operations_carry_parameters_and_bodies(client: Any) -> None:
    paths = (await ok_json(await client.get("/api/openapi.json")))["paths"]
    listing = paths["/api/messaging/channels/{channel_id}/messages"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert params["channel_id"]["in"] == "path"
    assert params["channel_id"]["schema"] == {"type": "string", "format": "uuid"}
    assert params["limit"]["schema"]["type"] == "integer"
    assert {"before", "after"} <= set(params)
    patch = paths["/api/messaging/messages/{message_id}"]["patch"]
    schema = patch["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["metadata"]["anyOf"][0] == {"type": "object"}
    assert schema["properties"]["content"]["maxLength"] == 100_000
    room = paths["/api/memory/{agent_id}/rooms"]["post"]
    room_schema = room["requestBody"]["content"]["application/json"]["schema"]
    assert room_schema["required"] == ["name"]
    assert room_schema["properties"]["name"]["maxLength"] == 256
    search = paths["/api/messaging/messages/search"]["post"]
    query = search["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert query["threshold"] == {"type": "number", "minimum": -1, "maximum": 1}
    assert set(room["responses"]) == {"201", "401", "4XX", "500", "503", "507"}


async def test_the_api_key_is_a_security_scheme_on_every_private_operation(
        client: Any) -> None:
    """Swagger UI offers "Authorize" (X-API-KEY) and sends the key on every operation but
    the public ones, each of which documents its 401."""
    document = await ok_json(await client.get("/api/openapi.json"))
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-KEY",
        "description": document["components"]["securitySchemes"]["ApiKey"]["description"]}
    public = {("get", "/api/openapi.json"), ("get", "/api/asyncapi.json"), ("get", "/api/docs"),
              ("get", "/api/docs/{asset}")}
    seen = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method, path) in public:
                seen.add((method, path))
                assert operation["security"] == [], (method, path)
                assert "401" not in operation["responses"], (method, path)
            else:
                assert operation["security"] == [{"ApiKey": []}], (method, path)
                assert "401" in operation["responses"], (method, path)
    assert seen == public
    deleted = document["paths"]["/api/agents/{agent_id}"]["delete"]["responses"]["204"]
    assert "content" not in deleted  # a 204 has no body


async def test_a_declared_body_is_enforced(client: Any) -> None:
    """The declaration of PATCH /api/agents/<id> refuses what its handler never checked."""
    await refused(await client.patch(f"/api/agents/{ELIZA_ID}", json={"enabled": "yes"}),
                  field="enabled")
    agent = await ok_json(await client.get(f"/api/agents/{ELIZA_ID}"))
    assert agent["data"]["enabled"] is True
    await refused(await client.post("/api/messaging/messages/search",
                                    json={"query": "x", "semantic": "yes"}), field="semantic")


async def test_uploads_sessions_audio_and_plugins_are_described(client: Any) -> None:
    paths = (await ok_json(await client.get("/api/openapi.json")))["paths"]
    for path in ("/api/media/agents/{agent_id}/upload-media",
                 "/api/messaging/central-channels/{channel_id}/upload-media",
                 "/api/audio/{agent_id}/transcriptions"):
        body = paths[path]["post"]["requestBody"]
        form = body["content"]["multipart/form-data"]["schema"]
        assert form["required"] == ["file"]
        assert form["properties"]["file"]["format"] == "binary"
        assert "50 MB" in form["properties"]["file"]["description"]
    talk = paths["/api/audio/{agent_id}/speech/conversation"]["post"]
    assert set(talk["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert "audio/wav" in talk["responses"]["200"]["content"]
    speak = paths["/api/audio/{agent_id}/speech/generate"]["post"]["requestBody"]
    assert speak["content"]["application/json"]["schema"]["anyOf"] == [
        {"required": ["text"]}, {"required": ["messageId"]}]
    send = paths["/api/messaging/sessions/{session_id}/messages"]["post"]
    fields = send["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert fields["transport"]["anyOf"][0]["enum"] == ["http", "sse", "websocket"]
    assert fields["content"]["maxLength"] == 4000
    assert "text/event-stream" in send["responses"]["200"]["content"]
    session = {p["name"]: p for p in send["parameters"]}["session_id"]
    assert session["schema"]["format"] == "uuid"
    plugin = paths["/api/agents/{agent_id}/plugins/{plugin}/{rest}"]
    assert set(plugin) == {"get", "post", "put", "patch", "delete"}
    assert "requestBody" in plugin["post"]
    assert "requestBody" not in plugin["get"]
    dispatched = paths["/api/{plugin}/{rest}"]["get"]
    assert "agentId" in {p["name"] for p in dispatched["parameters"]}


async def test_sessions_keep_their_codes_and_order(client: Any) -> None:
    """Through their declarations the sessions routes still answer VALIDATION_ERROR (now
    naming the field), and a send to a missing session is 404 before its body is judged."""
    base = "/api/messaging/sessions"
    user = "11111111-2222-4333-8444-555555555556"
    error = await refused(await client.post(base, json={"agentId": ELIZA_ID, "userId": user,
                                                        "metadata": []}),
                          code="VALIDATION_ERROR", field="metadata")
    assert error["message"] == "Metadata must be an object"
    created = await ok_json(await client.post(base, json={"agentId": ELIZA_ID,
                                                          "userId": user}), 201)
    sid = created["sessionId"]
    error = await refused(await client.post(f"{base}/{sid}/messages",
                                            json={"content": "hi", "transport": "pigeon"}),
                          code="VALIDATION_ERROR", field="transport")
    assert error["message"].startswith("Invalid transport 'pigeon'")
    await refused(await client.get(f"{base}/{sid}/messages?limit=many"),
                  code="VALIDATION_ERROR", field="limit")
    missing = "11111111-2222-4333-8444-555555555555"
    await refused(await client.post(f"{base}/{missing}/messages", json={"content": 5}), 404,
                  "SESSION_NOT_FOUND")
    await refused(await client.post(f"{base}/{missing}/messages", data="{",
                                    headers={"Content-Type": "application/json"}),
                  code="VALIDATION_ERROR", field="body")
