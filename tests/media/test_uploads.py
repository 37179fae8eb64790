"""Uploads in-process: every allowed type on every upload route, stored under a generated
name and served back byte-identical; disguised, unlisted, doubled and missing files refused;
ids and filenames validated; the upload rate limits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from conftest import make_settings, open_app
from eliza.settings import RateLimit, Settings

from .helpers import (
    CONTENT_TYPE,
    ELF,
    HTML,
    SAMPLES,
    file_body,
    multipart,
    new_id,
    part,
)

CHANNEL_ROUTES = ["/api/media/channels/{}/upload-media",
                  "/api/messaging/channels/{}/upload-media",
                  "/api/messaging/central-channels/{}/upload-media"]
STORED = re.compile(r"^\d{13}-\d{1,9}\.[a-z0-9]+$")


async def upload(client: Any, path: str, body: bytes,
                 content_type: str = CONTENT_TYPE) -> tuple[int, dict[str, Any]]:
    response = await client.post(path, data=body, headers={"Content-Type": content_type})
    return response.status_code, await response.get_json()


def files_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


@pytest.mark.parametrize("mime", sorted(SAMPLES))
async def test_agent_upload_of_each_type_is_served_back(client: Any, settings: Settings,
                                                        mime: str) -> None:
    content, ext = SAMPLES[mime]
    agent = new_id()
    status, body = await upload(client, f"/api/media/agents/{agent}/upload-media",
                                file_body(content, mime, "evil.exe"))
    assert status == 200, body
    data = body["data"]
    assert body["success"] is True
    assert STORED.match(data["filename"])
    assert data["filename"].endswith(ext)
    assert data["url"] == f"/media/uploads/agents/{agent}/{data['filename']}"
    major = mime.split("/")[0]
    assert data["type"] == (major if major in ("image", "video", "audio") else "document")
    assert data["originalName"] == "evil.exe"
    assert data["size"] == len(content)
    stored = settings.uploads_agents_dir / agent / data["filename"]
    assert stored.read_bytes() == content
    served = await client.get(data["url"])
    assert served.status_code == 200
    assert await served.get_data() == content
    assert served.headers["Content-Type"].split(";")[0] == {
        "audio/mp3": "audio/mpeg", "audio/x-wav": "audio/wav", "audio/wave": "audio/wav",
        "audio/webm": "video/webm"}.get(mime, mime)
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert [p.name for p in files_in(settings.uploads_agents_dir)] == [data["filename"]]


@pytest.mark.parametrize("route", CHANNEL_ROUTES)
async def test_channel_uploads_are_served_from_the_channels_dir(client: Any, settings: Settings,
                                                                route: str) -> None:
    content, _ = SAMPLES["image/png"]
    channel = new_id()
    status, body = await upload(client, route.format(channel),
                                file_body(content, "image/png", "cat.png"))
    assert status == 200, body
    data = body["data"]
    assert data["type"] == "image/png"
    assert data["originalName"] == "cat.png"
    assert data["url"] == f"/media/uploads/channels/{channel}/{data['filename']}"
    assert (settings.uploads_channels_dir / channel / data["filename"]).read_bytes() == content
    assert not files_in(settings.uploads_agents_dir)
    served = await client.get(data["url"])
    assert served.status_code == 200
    assert await served.get_data() == content
    assert served.headers["Content-Type"] == "image/png"


@pytest.mark.parametrize(("mime", "content"), [
    ("image/png", ELF), ("image/png", HTML), ("image/jpeg", SAMPLES["image/png"][0]),
    ("application/pdf", HTML), ("audio/mpeg", ELF), ("audio/aac", SAMPLES["audio/mp3"][0]),
    ("video/mp4", b"\x00\x00\x00\x18ftxpmp42" + bytes(64)), ("image/webp", SAMPLES["audio/wav"][0]),
    ("text/plain", b"abc\x00def"), ("text/plain", b"caf\xe9 latin-1"),
    ("text/plain", b"ok" + b"\xe2\x82"),  # truncated UTF-8 sequence at the end
    ("image/gif", b"GIF8"),  # too short to be anything
])
async def test_disguised_files_are_refused(client: Any, settings: Settings, mime: str,
                                           content: bytes) -> None:
    status, body = await upload(client, f"/api/media/agents/{new_id()}/upload-media",
                                file_body(content, mime, "innocent.png"))
    assert status == 415, body
    assert body["error"]["code"] == "INVALID_FILE_TYPE"
    assert not files_in(settings.uploads_agents_dir)


@pytest.mark.parametrize("mime", ["text/html", "image/svg+xml", "application/x-executable",
                                  "application/octet-stream", ""])
async def test_types_off_the_allow_list_are_refused(client: Any, settings: Settings,
                                                    mime: str) -> None:
    body_bytes = multipart(part("file", HTML, "x.html", mime or None))
    status, body = await upload(client, f"/api/media/channels/{new_id()}/upload-media",
                                body_bytes)
    assert status == 415
    assert body["error"]["code"] == "INVALID_FILE_TYPE"
    assert not files_in(settings.uploads_channels_dir)


async def test_exactly_one_file_in_the_file_field(client: Any, settings: Settings) -> None:
    png = SAMPLES["image/png"][0]
    route = f"/api/media/agents/{new_id()}/upload-media"
    two = multipart(part("file", png, "a.png", "image/png"), part("file", png, "b.png",
                                                                   "image/png"))
    status, body = await upload(client, route, two)
    assert status == 400
    assert body["error"]["code"] == "BAD_REQUEST"
    status, body = await upload(client, route, file_body(png, "image/png", field="image"))
    assert status == 400
    assert "'file'" in body["error"]["message"]
    status, body = await upload(client, route, multipart(part("caption", b"hi")))
    assert status == 400
    assert body["error"]["message"] == "No media file provided"
    status, body = await upload(client, route, file_body(b"", "image/png"))
    assert status == 400
    status, body = await upload(client, route, b'{"file": 1}', "application/json")
    assert status == 400
    assert body["error"]["code"] == "INVALID_CONTENT_TYPE"
    truncated = file_body(png, "image/png")[:-30]
    status, body = await upload(client, route, truncated)
    assert status == 400
    assert "Malformed" in body["error"]["message"]
    # A text field next to the file is fine.
    status, body = await upload(client, route, multipart(
        part("caption", b"a cat"), part("file", png, "a.png", "image/png")))
    assert status == 200, body
    assert len(files_in(settings.uploads_agents_dir)) == 1


@pytest.mark.parametrize("name", ["../x.png", "a/b.png", "..", "a\\b.png", "x\x00.png"])
async def test_client_filenames_with_path_parts_are_refused(client: Any, settings: Settings,
                                                            name: str) -> None:
    status, body = await upload(client, f"/api/media/agents/{new_id()}/upload-media",
                                file_body(SAMPLES["image/png"][0], "image/png", name))
    assert status == 400, body
    assert not files_in(settings.data_dir / "data")


@pytest.mark.parametrize("bad", ["not-a-uuid", "..", "..%2F..%2Fetc", "%2e%2e",
                                 "123e4567-e89b-12d3-a456-42661417400"])
async def test_bad_ids_are_refused(client: Any, settings: Settings, bad: str) -> None:
    png = file_body(SAMPLES["image/png"][0], "image/png")
    for route in ["/api/media/agents/{}/upload-media", *CHANNEL_ROUTES]:
        status, body = await upload(client, route.format(bad), png)
        assert status in (400, 404), (route, bad, body)
        if status == 400:
            assert body["error"]["code"] == "INVALID_ID"
    for prefix in ("/media/uploads/agents", "/media/uploads/channels", "/media/generated"):
        response = await client.get(f"{prefix}/{bad}/x.png")
        assert response.status_code in (400, 404)
    assert not files_in(settings.data_dir / "data")


async def test_serving_refuses_traversal_and_answers_json_404(client: Any,
                                                              settings: Settings) -> None:
    agent = new_id()
    secret = settings.uploads_agents_dir / "secret.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text("top secret")
    (settings.uploads_agents_dir / agent).mkdir()
    for name in ["..", ".hidden", "..secret.txt", "a\\..\\secret.txt", "x%00.png"]:
        response = await client.get(f"/media/uploads/agents/{agent}/{name}")
        assert response.status_code in (400, 403, 404), name
        assert b"top secret" not in await response.get_data()
    missing = await client.get(f"/media/uploads/agents/{agent}/1-2.png")
    assert missing.status_code == 404
    body = await missing.get_json()
    assert body["success"] is False
    assert body["error"]["code"] == "NOT_FOUND"
    bad = await client.get("/media/uploads/channels/nope/1-2.png")
    assert bad.status_code == 400
    assert (await bad.get_json())["error"]["code"] == "INVALID_ID"


async def test_generated_files_are_served_with_safe_types(client: Any,
                                                          settings: Settings) -> None:
    agent = new_id()
    folder = settings.generated_dir / agent
    folder.mkdir(parents=True)
    (folder / "speech.mp3").write_bytes(SAMPLES["audio/mpeg"][0])
    (folder / "page.html").write_bytes(HTML)
    response = await client.get(f"/media/generated/{agent}/speech.mp3")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert await response.get_data() == SAMPLES["audio/mpeg"][0]
    html = await client.get(f"/media/generated/{agent}/page.html")
    assert html.headers["Content-Type"] == "application/octet-stream"
    assert html.headers["X-Content-Type-Options"] == "nosniff"


async def test_upload_rate_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_RATE_LIMIT="on").with_overrides(
        upload_rate_limit=RateLimit(3, 60), file_rate_limit=RateLimit(100, 60))
    png = file_body(SAMPLES["image/png"][0], "image/png")
    async with open_app(settings) as app:
        client = app.test_client()
        statuses = []
        for _ in range(5):
            response = await client.post(f"/api/media/channels/{new_id()}/upload-media",
                                         data=png, headers={"Content-Type": CONTENT_TYPE})
            statuses.append(response.status_code)
        assert statuses == [200, 200, 200, 429, 429]
        body = await response.get_json()
        assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        assert "Retry-After" in response.headers
        assert len(files_in(settings.uploads_channels_dir)) == 3
        # Serving is not an upload: still answered.
        assert (await client.get("/api/server/ping")).status_code == 200


async def test_file_operation_limit_also_applies(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_RATE_LIMIT="on").with_overrides(
        upload_rate_limit=RateLimit(100, 60), file_rate_limit=RateLimit(2, 60))
    png = file_body(SAMPLES["image/png"][0], "image/png")
    async with open_app(settings) as app:
        client = app.test_client()
        statuses = [(await client.post(f"/api/media/agents/{new_id()}/upload-media", data=png,
                                       headers={"Content-Type": CONTENT_TYPE})).status_code
                    for _ in range(3)]
        assert statuses == [200, 200, 429]


async def test_size_cap_counts_the_bytes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path).with_overrides(max_upload_bytes=4096)
    async with open_app(settings) as app:
        client = app.test_client()
        big = file_body(SAMPLES["image/png"][0] + bytes(8192), "image/png")
        response = await client.post(f"/api/media/agents/{new_id()}/upload-media", data=big,
                                     headers={"Content-Type": CONTENT_TYPE})
        assert response.status_code == 413
        assert (await response.get_json())["error"]["code"] == "FILE_TOO_LARGE"
        assert not files_in(settings.uploads_agents_dir)
        small = file_body(SAMPLES["image/png"][0], "image/png")
        response = await client.post(f"/api/media/agents/{new_id()}/upload-media", data=small,
                                     headers={"Content-Type": CONTENT_TYPE})
        assert response.status_code == 200
