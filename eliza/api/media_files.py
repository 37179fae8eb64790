"""`/api/media/files/:fileId`: a stored media file by the id its upload answered
(eliza/media/files.py). GET serves it exactly as its `/media/*` URL does (content type from
the stored name, nosniff, conditional requests); DELETE removes it (counted against the
file-operation rate limit). Both refuse ids that would leave their directory."""

from __future__ import annotations

from typing import Any

import trio
from quart import Blueprint, Response

from ..media.files import kind_root, parse_file_id
from ..media.uploads import missing_file
from .common import server
from .contract import declare
from .inputs import Text
from .media import media_path, rate_limit_files, serve_media

bp = Blueprint("media_files", __name__, url_prefix="/api/media/files")

FILE_ID = {"file_id": Text(max_chars=400, description=(
    "`<agent|channel|generated>.<uuid>.<filename>`, as an upload answers it in `id`"))}


@bp.get("/<file_id>")
@declare("A media file by id", tags="media", path=FILE_ID,
         answers={"*/*": {"type": "string", "format": "binary"}},
         description="Served with the content type of its stored name and "
                     "X-Content-Type-Options: nosniff; 404 when there is no such file, 400 "
                     "INVALID_FILE_ID / INVALID_FILENAME / INVALID_ID for a malformed id.")
async def get_file(file_id: str) -> Response:
    kind, entity_id, filename = parse_file_id(file_id)
    base, what = kind_root(server().settings, kind)
    return await serve_media(base, entity_id, filename, what)


@bp.delete("/<file_id>")
@declare("Delete a media file by id", tags="media", path=FILE_ID,
         description="Answers {id, deleted: true}; 404 when there is no such file.")
async def delete_file(file_id: str) -> Any:
    kind, entity_id, filename = parse_file_id(file_id)
    base, what = kind_root(server().settings, kind)
    path = trio.Path(media_path(base, entity_id, filename, what))
    await rate_limit_files()
    if not await path.is_file():
        raise missing_file(server().settings.cluster.shared)
    try:
        await path.unlink()
    except FileNotFoundError:  # removed meanwhile by another request
        raise missing_file(server().settings.cluster.shared) from None
    return {"success": True, "data": {"id": file_id, "deleted": True}}
