"""attachments_to_urls (ElizaOS's `attachmentsToApiUrls`): stored media paths become
`/media/...` URLs."""

from __future__ import annotations

from pathlib import Path

from eliza.media.urls import attachments_to_urls
from eliza.settings import Settings

from .helpers import new_id


def test_paths_under_the_three_dirs_become_urls(settings: Settings) -> None:
    agent, channel = new_id(), new_id()
    generated = str(settings.generated_dir / agent / "speech 1.mp3")
    upload = str(settings.uploads_agents_dir / agent / "1-2.png")
    channel_file = str(settings.uploads_channels_dir / channel / "3-4.pdf")
    assert attachments_to_urls(generated, settings) == f"/media/generated/{agent}/speech%201.mp3"
    assert attachments_to_urls([upload, {"url": channel_file, "title": "doc"}], settings) == [
        f"/media/uploads/agents/{agent}/1-2.png",
        {"url": f"/media/uploads/channels/{channel}/3-4.pdf", "title": "doc"},
    ]


def test_everything_else_is_left_alone(settings: Settings, tmp_path: Path) -> None:
    kept = ["https://example.com/a.png", "HTTP://x/y", "blob:abc", "data:image/png;base64,AA",
            "file:///etc/passwd", "ipfs://cid", "s3://b/k", "gs://b/k", "/media/generated/a/b",
            "relative/path.png", "", str(tmp_path / "elsewhere.png"),
            str(settings.uploads_agents_dir / "loose.png"),  # not <id>/<file>
            str(settings.uploads_agents_dir / "a" / "b" / "c.png"),
            str(settings.uploads_agents_dir) + "-evil/x/y.png",  # a sibling, not under it
            str(settings.uploads_agents_dir / "a" / ".." / ".." / "x.png")]
    for value in kept:
        assert attachments_to_urls(value, settings) == value, value
    assert attachments_to_urls({"url": 3}, settings) == {"url": 3}
    assert attachments_to_urls(None, settings) is None
    assert attachments_to_urls([{"id": "x"}], settings) == [{"id": "x"}]
