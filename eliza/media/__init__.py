"""Media uploads, their serving and the attachment URL rewrite (reference §2.2 step 8, §3.5,
§4.6, §9.1)."""

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
