"""Media uploads and the static media routes. Unlike the original, channel uploads are
served from the channels directory they are stored in, and the web UI's
`/api/messaging/central-channels/:id/upload-media` exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import trio
from quart import Blueprint, Response, current_app, request, send_file

from ..errors import BadRequest, Forbidden
from ..media.files import file_id
from ..media.types import MEDIA_MIME_TYPES, content_type_for, media_kind
from ..media.uploads import (
    SavedUpload,
    UploadPolicy,
    missing_file,
    receive_upload,
    safe_dir,
)
from .common import server
from .contract import Multipart, declare

if TYPE_CHECKING:
    from ..security.middleware import Security

bp = Blueprint("media", __name__)

# Stored names are `<ms>-<random><ext>`; generated files may be named by plugins, so allow
# ordinary names but never a dotfile, a separator, `..` or a control character.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ ()+-]{0,254}$")


async def rate_limit_files() -> None:
    """The upload and file-operation limiters, per client IP."""
    security = cast("Security | None", current_app.config.get("ELIZA_SECURITY"))
    if security is not None:
        await security.hit_file_limits(request.remote_addr, request.headers)


async def _receive(base: Path, entity_id: str, what: str) -> SavedUpload:
    target = safe_dir(base, entity_id, what)
    await rate_limit_files()
    policy = UploadPolicy(MEDIA_MIME_TYPES, server().settings.max_upload_bytes)
    return await receive_upload(request.body, request.headers.get("Content-Type"),
                                request.content_length, target, policy)


UPLOAD = Multipart(MEDIA_MIME_TYPES, file="the media file")
_STORED = ("Answers {id, url, type, filename, originalName, size}; the file is stored under "
           "a new name and served at the returned url, and at /api/media/files/{id}. Uploads "
           "are rate limited per client.")


def _answer(saved: SavedUpload, url: str, kind: str, file_id: str
            ) -> tuple[dict[str, Any], int]:
    return {"success": True, "data": {
        "id": file_id, "url": url, "type": kind, "filename": saved.filename,
        "originalName": saved.original_name, "size": saved.size,
    }}, 200


@bp.post("/api/media/agents/<agent_id>/upload-media")
@bp.post("/api/media/agents/<agent_id>/upload")
@declare("Upload a file for an agent", tags="media", multipart=UPLOAD, description=_STORED)
async def upload_agent_media(agent_id: str) -> Any:
    saved = await _receive(server().settings.uploads_agents_dir, agent_id, "agent")
    return _answer(saved, f"/media/uploads/agents/{agent_id}/{saved.filename}",
                   media_kind(saved.mime), file_id("agent", agent_id, saved.filename))


@bp.post("/api/media/channels/<channel_id>/upload-media")
@bp.post("/api/media/channels/<channel_id>/upload")
@bp.post("/api/messaging/channels/<channel_id>/upload-media")
@bp.post("/api/messaging/central-channels/<channel_id>/upload-media")
@declare("Upload a file to a channel", tags="media", multipart=UPLOAD, description=_STORED)
async def upload_channel_media(channel_id: str) -> Any:
    saved = await _receive(server().settings.uploads_channels_dir, channel_id, "channel")
    return _answer(saved, f"/media/uploads/channels/{channel_id}/{saved.filename}", saved.mime,
                   file_id("channel", channel_id, saved.filename))


def media_path(base: Path, entity_id: str, filename: str, what: str) -> Path:
    """`base/<entity_id>/<filename>`, for a UUID id and an ordinary file name only, and
    only if it resolves inside that directory (no traversal, no symlink out)."""
    directory = safe_dir(base, entity_id, what)
    if not _SAFE_NAME.match(filename) or ".." in filename:
        raise BadRequest("Invalid filename", code="INVALID_FILENAME")
    path = (directory / filename).resolve()
    if path.parent != directory:
        raise Forbidden("Access denied")
    return path


async def serve_media(base: Path, entity_id: str, filename: str, what: str) -> Response:
    path = media_path(base, entity_id, filename, what)
    if not await trio.Path(path).is_file():
        raise missing_file(server().settings.cluster.shared)
    content_type = content_type_for(filename)
    response = await send_file(path, mimetype=content_type, conditional=True)
    # Werkzeug appends a charset to every text/* mimetype, even one that has its own.
    response.headers["Content-Type"] = content_type
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/media/uploads/agents/<agent_id>/<filename>")
async def serve_agent_upload(agent_id: str, filename: str) -> Response:
    return await serve_media(server().settings.uploads_agents_dir, agent_id, filename, "agent")


@bp.get("/media/uploads/channels/<channel_id>/<filename>")
async def serve_channel_upload(channel_id: str, filename: str) -> Response:
    return await serve_media(server().settings.uploads_channels_dir, channel_id, filename,
                             "channel")


@bp.get("/media/generated/<agent_id>/<filename>")
async def serve_generated(agent_id: str, filename: str) -> Response:
    return await serve_media(server().settings.generated_dir, agent_id, filename, "agent")
