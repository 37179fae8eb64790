"""Media uploads, their serving and the attachment URL rewrite, with the original ElizaOS
server's paths, size caps and allowed file types."""

from __future__ import annotations

from .types import AUDIO_MIME_TYPES, MEDIA_MIME_TYPES, content_type_for, media_kind
from .uploads import SavedUpload, UploadPolicy, receive_upload
from .urls import attachments_to_urls

__all__ = [
    "AUDIO_MIME_TYPES",
    "MEDIA_MIME_TYPES",
    "SavedUpload",
    "UploadPolicy",
    "attachments_to_urls",
    "content_type_for",
    "media_kind",
    "receive_upload",
]
