"""Media file ids: `<kind>.<entityId>.<filename>`, e.g.
`channel.9f0c…e1.1733300000000-123456.png`. An id names where the file is stored (the
uploads of an agent or a channel, or an agent's generated media) without a path, so
`/api/media/files/:fileId` can serve and delete it with the same checks as the `/media/*`
routes. The upload routes answer it as `id`."""

from __future__ import annotations

from pathlib import Path

from ..errors import BadRequest
from ..settings import Settings

KINDS = ("agent", "channel", "generated")


def file_id(kind: str, entity_id: str, filename: str) -> str:
    return f"{kind}.{entity_id}.{filename}"


def parse_file_id(value: str) -> tuple[str, str, str]:
    """`(kind, entityId, filename)`; 400 INVALID_FILE_ID for anything not shaped like an id
    (the entity id and the file name are checked where the file is looked up)."""
    kind, _, rest = value.partition(".")
    entity_id, _, filename = rest.partition(".")
    if kind not in KINDS or not entity_id or not filename:
        raise BadRequest("Invalid file ID: expected <agent|channel|generated>.<uuid>.<filename>",
                         code="INVALID_FILE_ID",
                         details={"field": "fileId", "problem": "not a media file id"})
    return kind, entity_id, filename


def kind_root(settings: Settings, kind: str) -> tuple[Path, str]:
    """The directory the files of `kind` are stored under, and what its entity is."""
    if kind == "channel":
        return settings.uploads_channels_dir, "channel"
    if kind == "generated":
        return settings.generated_dir, "agent"
    return settings.uploads_agents_dir, "agent"
