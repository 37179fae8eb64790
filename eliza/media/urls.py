"""ElizaOS's `attachmentsToApiUrls`: absolute paths of stored media become the
`/media/...` URLs that serve them; everything else passes through unchanged."""

from __future__ import annotations

import os
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from ..settings import Settings

EXTERNAL_SCHEMES = ("http:", "https:", "blob:", "data:", "file:", "ipfs:", "s3:", "gs:")


def _roots(settings: Settings) -> list[tuple[str, str]]:
    return [
        (os.path.abspath(settings.generated_dir), "/media/generated"),
        (os.path.abspath(settings.uploads_agents_dir), "/media/uploads/agents"),
        (os.path.abspath(settings.uploads_channels_dir), "/media/uploads/channels"),
    ]


def path_to_url(value: str, settings: Settings) -> str:
    """One attachment string: a stored file's path becomes its URL, anything else is kept."""
    if not value or value.lower().startswith(EXTERNAL_SCHEMES) or value.startswith("/media/"):
        return value
    if not PurePath(value).is_absolute():
        return value
    path = os.path.normpath(value)
    for root, prefix in _roots(settings):
        if os.path.commonpath([root, path]) != root:
            continue
        parts = PurePath(os.path.relpath(path, root)).parts
        if len(parts) == 2 and ".." not in parts:  # <id>/<file>, as the routes serve them
            return "/".join([prefix, *(quote(part, safe="") for part in parts)])
    return value


def attachments_to_urls(attachments: Any, settings: Settings) -> Any:
    """Accept a string, an object with `url`, or a list of either; return the same shape."""
    if isinstance(attachments, list):
        return [attachments_to_urls(item, settings) for item in attachments]
    if isinstance(attachments, str):
        return path_to_url(attachments, settings)
    if isinstance(attachments, dict) and isinstance(attachments.get("url"), str):
        return {**attachments, "url": path_to_url(attachments["url"], settings)}
    return attachments
