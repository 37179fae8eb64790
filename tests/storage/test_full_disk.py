"""A live server on a small tmpfs: when the disk fills, message posts, uploads and agent
creates answer 507 INSUFFICIENT_STORAGE in the error envelope while every read still
answers with the earlier data; once space is freed, writes work again without a restart,
the refused writes left nothing behind and the database passes its integrity check. An
uploads directory that turns read-only answers 507 the same way, until it is writable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eliza.ids import DEFAULT_SERVER_ID
from tests.media.helpers import CONTENT_TYPE, SAMPLES, file_body

from .disk import TmpfsServer, tmpfs_server

# About the data directory's disk filling up under SQLite's file.
pytestmark = pytest.mark.sqlite_only

USER_ID = "a9f0c5f1-8e2b-4a39-9a5c-6f1d2b3c4d5e"
PNG = SAMPLES["image/png"][0]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TmpfsServer]:
    live = tmpfs_server(tmp_path)
    yield live
    live.stop()


@pytest.fixture
def api(server: TmpfsServer) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.http.close()


class Api:
    def __init__(self, server: TmpfsServer) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=30)

    def create_channel(self) -> str:
        response = self.http.post("/api/messaging/central-channels", json={
            "name": "disk", "serverId": DEFAULT_SERVER_ID, "type": "GROUP"})
        assert response.status_code == 201, response.text
        return str(response.json()["data"]["id"])

    def post(self, channel: str, text: str) -> httpx.Response:
        return self.http.post(f"/api/messaging/central-channels/{channel}/messages", json={
            "author_id": USER_ID, "content": text, "server_id": DEFAULT_SERVER_ID})

    def messages(self, channel: str) -> list[str]:
        response = self.http.get(f"/api/messaging/channels/{channel}/messages")
        assert response.status_code == 200, response.text
        return sorted(m["content"] for m in response.json()["data"]["messages"])

    def upload(self, channel: str) -> httpx.Response:
        return self.http.post(f"/api/media/channels/{channel}/upload-media",
                              content=file_body(PNG, "image/png", "pic.png"),
                              headers={"Content-Type": CONTENT_TYPE})

    def create_agent(self, name: str) -> httpx.Response:
        return self.http.post("/api/agents", json={"characterJson": {"name": name}})


def assert_insufficient_storage(response: httpx.Response, reason: str, storage: str) -> None:
    assert response.status_code == 507, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "INSUFFICIENT_STORAGE"
    assert body["error"]["details"] == {"reason": reason, "storage": storage}
    assert storage in body["error"]["message"]


def test_a_full_disk_refuses_writes_keeps_reads_and_recovers(server: TmpfsServer,
                                                              api: Api) -> None:
    channel = api.create_channel()
    assert api.post(channel, "before the disk filled").status_code == 201
    uploaded = api.upload(channel)
    assert uploaded.status_code == 200, uploaded.text
    agent = api.create_agent("Before")
    assert agent.status_code == 201, agent.text
    agent_id = agent.json()["data"]["id"]

    server.fill()
    assert_insufficient_storage(api.post(channel, "while the disk is full"), "DISK_FULL",
                                "the database")
    assert_insufficient_storage(api.upload(channel), "DISK_FULL", "the uploads directory")
    assert_insufficient_storage(api.create_agent("During"), "DISK_FULL", "the database")
    # Reads go on, with everything written before.
    assert api.messages(channel) == ["before the disk filled"]
    served = api.http.get(uploaded.json()["data"]["url"])
    assert served.status_code == 200
    assert served.content == PNG
    assert api.http.get(f"/api/agents/{agent_id}").json()["data"]["name"] == "Before"
    names = [a["name"] for a in api.http.get("/api/agents").json()["data"]["agents"]]
    assert "During" not in names
    assert not server.inside("find", str(server.disk), "-name", "*.part").stdout

    server.free()  # no restart: the next writes just work
    assert api.post(channel, "after space came back").status_code == 201
    assert api.upload(channel).status_code == 200
    assert api.create_agent("After").status_code == 201
    assert api.messages(channel) == ["after space came back", "before the disk filled"]
    assert server.integrity_check() == "ok"
    log = server.log()
    assert "fail: DISK_FULL" in log
    assert "work again" in log


def test_a_read_only_uploads_directory_refuses_uploads_until_writable(
        server: TmpfsServer, api: Api) -> None:
    channel = api.create_channel()
    assert api.upload(channel).status_code == 200
    uploads = server.data_dir / "data" / "uploads" / "channels"
    # A read-only bind of the directory onto itself: new files there fail with EROFS.
    server.inside("mount", "--bind", str(uploads), str(uploads))
    server.inside("mount", "-o", "remount,ro,bind", str(uploads))
    assert_insufficient_storage(api.upload(channel), "READ_ONLY", "the uploads directory")
    assert api.post(channel, "the database is still writable").status_code == 201

    server.inside("umount", str(uploads))
    assert api.upload(channel).status_code == 200
