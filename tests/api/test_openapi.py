"""`GET /api/openapi.json`: the OpenAPI 3.1 contract built from the route declarations
(eliza/api/contract.py). Every /api route is declared unless listed in UNDECLARED below, so
a declaration that goes missing fails here, and so does a new route nobody declared."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from conftest import make_settings, open_app
from tests.api.hostile import ok_json, refused
from tests.messaging.helpers import ELIZA_ID

# Routes still without a declaration: plugin-provided and multipart routes (their inputs
# are not JSON), and the sessions API (its own error codes and check order come first).
UNDECLARED = {
    ("GET", "/api/agents/{agent_id}/panels"),
    *{(method, f"/api/agents/{{agent_id}}/plugins/{{plugin}}{rest}")
      for method in ("GET", "POST", "PUT", "PATCH", "DELETE") for rest in ("", "/{rest}")},
    *{("POST", f"/api/audio/{{agent_id}}/{tail}") for tail in (
        "audio-messages", "audio-messages/synthesize", "speech", "speech/conversation",
        "speech/generate", "transcriptions")},
    ("POST", "/api/media/agents/{agent_id}/upload-media"),
    ("POST", "/api/media/channels/{channel_id}/upload-media"),
    ("POST", "/api/messaging/central-channels/{channel_id}/upload-media"),
    ("POST", "/api/messaging/channels/{channel_id}/upload-media"),
}


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
    stale = sorted(UNDECLARED & declared)
    assert not stale, f"declared now, take them off UNDECLARED: {stale}"
    assert not UNDECLARED - routes, sorted(UNDECLARED - routes)
    assert len(declared) >= 100


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
    assert set(room["responses"]) == {"201", "4XX", "500"}


async def test_a_declared_body_is_enforced(client: Any) -> None:
    """The declaration of PATCH /api/agents/<id> refuses what its handler never checked."""
    await refused(await client.patch(f"/api/agents/{ELIZA_ID}", json={"enabled": "yes"}),
                  field="enabled")
    agent = await ok_json(await client.get(f"/api/agents/{ELIZA_ID}"))
    assert agent["data"]["enabled"] is True
    await refused(await client.post("/api/messaging/messages/search",
                                    json={"query": "x", "semantic": "yes"}), field="semantic")
