"""ELIZA_UPLOADS_DIR moves uploaded and generated media out of the data directory, so the
hosts of a deployment can share one directory: a file uploaded to one host is served by the
others, and a host that does not see the shared directory answers 404 naming the likely
cause. Partial uploads are swept only when too old to be another server's in progress."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer, make_settings, open_app
from eliza.media.uploads import PARTIAL_UPLOAD_MAX_AGE, sweep_partial_uploads
from eliza.settings import Settings
from tests.backends import own_schema
from tests.security.deployment import data_dir, running, worker_env

from .helpers import CONTENT_TYPE, SAMPLES, file_body, new_id

PNG = SAMPLES["image/png"][0]


@pytest.mark.sqlite_only  # no database: once is enough
def test_the_uploads_dir_defaults_to_the_data_dir_and_resolves_relative_paths(
        tmp_path: Path) -> None:
    default = Settings.from_env({"ELIZA_DATA_DIR": "d"}, cwd=tmp_path)
    assert default.uploads_agents_dir == tmp_path / "d" / "data" / "uploads" / "agents"
    assert default.generated_dir == tmp_path / "d" / "data" / "generated"
    moved = Settings.from_env({"ELIZA_DATA_DIR": "d", "ELIZA_UPLOADS_DIR": "media"},
                              cwd=tmp_path)
    assert moved.uploads_channels_dir == tmp_path / "media" / "channels"
    assert moved.generated_dir == tmp_path / "media" / "generated"


async def test_uploads_and_generated_media_live_in_the_uploads_dir(tmp_path: Path) -> None:
    shared = tmp_path / "shared-media"
    settings = make_settings(tmp_path, ELIZA_UPLOADS_DIR=str(shared))
    agent, channel = new_id(), new_id()
    generated = shared / "generated" / agent / "speech.png"
    generated.parent.mkdir(parents=True)
    generated.write_bytes(PNG)
    async with open_app(settings) as app:
        client = app.test_client()
        urls = []
        for path in (f"/api/media/agents/{agent}/upload-media",
                     f"/api/media/channels/{channel}/upload-media"):
            response = await client.post(path, data=file_body(PNG, "image/png"),
                                         headers={"Content-Type": CONTENT_TYPE})
            assert response.status_code == 200, await response.get_json()
            urls.append((await response.get_json())["data"]["url"])
        urls.append(f"/media/generated/{agent}/speech.png")
        for url in urls:
            served = await client.get(url)
            assert served.status_code == 200, url
            assert await served.get_data() == PNG
    stored = sorted(str(p.relative_to(shared).parent) for p in shared.rglob("*.png"))
    assert stored == [f"agents/{agent}", f"channels/{channel}", f"generated/{agent}"]
    assert not (settings.data_dir / "data" / "uploads").exists()


async def test_one_process_keeps_the_plain_404(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_BUS="memory")
    async with open_app(settings) as app:
        response = await app.test_client().get(f"/media/uploads/agents/{new_id()}/1-2.png")
    assert response.status_code == 404
    assert (await response.get_json())["error"] == {"code": "NOT_FOUND",
                                                    "message": "File not found"}


@pytest.fixture
def schema_url() -> Iterator[str]:
    with own_schema("uploads") as (_, url):
        yield url


@pytest.mark.postgres
@pytest.mark.sqlite_only  # its own schema: once is enough
def test_hosts_sharing_the_uploads_dir_serve_each_others_files(
        tmp_path: Path, schema_url: str) -> None:
    shared = str(tmp_path / "nfs" / "uploads")
    first, second, apart = servers = [
        LiveServer(data_dir(tmp_path, "host1"), worker_env(schema_url, ELIZA_UPLOADS_DIR=shared)),
        LiveServer(data_dir(tmp_path, "host2"), worker_env(schema_url, ELIZA_UPLOADS_DIR=shared)),
        LiveServer(data_dir(tmp_path, "host3"), worker_env(schema_url)),
    ]
    channel = new_id()
    with running(servers):
        uploaded = httpx.post(f"{first.url}/api/media/channels/{channel}/upload-media",
                              content=file_body(PNG, "image/png"), timeout=30,
                              headers={"Content-Type": CONTENT_TYPE})
        assert uploaded.status_code == 200, uploaded.text
        url = uploaded.json()["data"]["url"]
        served = httpx.get(f"{second.url}{url}", timeout=30)
        assert served.status_code == 200
        assert served.content == PNG

        missing: Any = httpx.get(f"{apart.url}{url}", timeout=30)
    assert missing.status_code == 404
    body = missing.json()
    assert body["success"] is False
    assert body["error"]["code"] == "NOT_FOUND"
    assert "does not see the shared uploads directory" in body["error"]["message"]
    assert "ELIZA_UPLOADS_DIR" in body["error"]["message"]


@pytest.mark.sqlite_only  # no database: once is enough
def test_only_partial_uploads_too_old_to_be_in_progress_are_swept(tmp_path: Path) -> None:
    root = tmp_path / "uploads" / "channels"
    (root / new_id()).mkdir(parents=True)
    folder = next(root.iterdir())
    stale, fresh = folder / ".upload-0a.part", folder / ".upload-0b.part"
    stale.write_bytes(b"x" * 10)
    fresh.write_bytes(b"y" * 7)
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))

    assert sweep_partial_uploads(root, older_than=PARTIAL_UPLOAD_MAX_AGE) == (1, 10)
    assert [p.name for p in folder.iterdir()] == [fresh.name]
    # Alone with the directory (the data directory's lock held), every one goes.
    assert sweep_partial_uploads(root) == (1, 7)
    assert list(folder.iterdir()) == []
