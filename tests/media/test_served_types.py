"""The Content-Type a stored file is served with is exactly the one of its extension: one
charset on text, none added to binary types."""

from __future__ import annotations

from typing import Any

import pytest

from eliza.settings import Settings

from .helpers import CONTENT_TYPE, SAMPLES, file_body, new_id


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("notes.txt", SAMPLES["text/plain"][0], "text/plain; charset=utf-8"),
    ("data.json", b'{"a": 1}', "application/json"),
    ("pic.png", SAMPLES["image/png"][0], "image/png"),
])
async def test_served_content_type_has_one_charset_at_most(
        client: Any, settings: Settings, name: str, content: bytes, expected: str) -> None:
    agent = new_id()
    folder = settings.generated_dir / agent
    folder.mkdir(parents=True)
    (folder / name).write_bytes(content)
    response = await client.get(f"/media/generated/{agent}/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == expected
    assert await response.get_data() == content


async def test_uploaded_text_is_served_with_one_charset(client: Any) -> None:
    content = SAMPLES["text/plain"][0]
    channel = new_id()
    response = await client.post(f"/api/media/channels/{channel}/upload-media",
                                 data=file_body(content, "text/plain", "notes.txt"),
                                 headers={"Content-Type": CONTENT_TYPE})
    assert response.status_code == 200
    served = await client.get((await response.get_json())["data"]["url"])
    assert served.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert await served.get_data() == content
