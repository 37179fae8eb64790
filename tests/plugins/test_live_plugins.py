"""The example plugin on a real `hypercorn -k trio eliza.app:app` process, which loads the
installed entry points like any deployment."""

from __future__ import annotations

from typing import Any

import httpx


def create_started(client: httpx.Client, name: str, plugins: list[str]) -> str:
    resp = client.post("/api/agents", json={"characterJson": {
        "name": name, "bio": "live plugin test", "plugins": plugins}})
    assert resp.status_code == 201, resp.text
    agent_id = str(resp.json()["data"]["id"])
    assert client.post(f"/api/agents/{agent_id}/start").status_code == 200
    return agent_id


def test_example_plugin_on_the_live_server(live: Any) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as client:
        plugged = create_started(client, "Plugged", ["@elizaos/plugin-example"])
        plain = create_started(client, "Plain", [])
        base = f"/api/agents/{plugged}/plugins/example"

        resp = client.get(f"{base}/hello/world")
        assert resp.status_code == 200
        assert resp.json() == {"message": "Hello, world!", "from": "Plugged"}
        count = client.get(f"{base}/count")
        assert count.status_code == 200
        assert count.json()["agentId"] == plugged
        assert set(count.json()) == {"agentId", "channels", "total"}

        # Global forms pick the first running agent that enables the plugin.
        assert client.get("/example/hello/x").json()["from"] == "Plugged"
        assert client.get(f"/api/example/hello/y?agentId={plugged}").json()["from"] == "Plugged"

        # An agent that does not enable it: 404 JSON everywhere.
        resp = client.get(f"/api/agents/{plain}/plugins/example/hello/world")
        assert resp.status_code == 404
        assert resp.json()["success"] is False
        assert client.get(f"/example/hello/x?agentId={plain}").status_code == 404

        panels = client.get(f"/api/agents/{plugged}/panels").json()
        assert panels == {"success": True, "data": [{
            "name": "Message counts",
            "path": f"{base}/_panels/0?agentId={plugged}"}]}
        page = client.get(panels["data"][0]["path"])
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Messages per channel" in page.text
        assert client.get(f"/api/agents/{plain}/panels").json()["data"] == []

        # Core paths are untouched.
        assert client.get("/api/server/ping").status_code == 200
        assert client.get("/healthz").json() == {"status": "ok"}
        plugins = {p["name"] for p in client.get("/api/plugins").json()["data"]["plugins"]}
        assert {"example", "openai"} <= plugins
