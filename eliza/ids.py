"""UUID helpers, byte-compatible with `@elizaos/core` (`validateUuid`, `stringToUuid`,
`createUniqueUuid`), so ids computed by ElizaOS clients and plugins line up with ours."""

from __future__ import annotations

import hashlib
import re
import uuid
from urllib.parse import quote

DEFAULT_SERVER_ID = "00000000-0000-0000-0000-000000000000"

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# encodeURIComponent leaves these unescaped besides letters, digits and "-_.~".
_URI_COMPONENT_SAFE = "!*'()"


def validate_uuid(value: object) -> str | None:
    """The value, in lower case, when it is a UUID string (any version or variant, the nil
    UUID too), else None. Every id the server accepts passes here, so `ABC...` and `abc...`
    name the same row (ids are stored and compared in lower case)."""
    if isinstance(value, str) and len(value) == 36 and _UUID.match(value):
        return value.lower()
    return None


def is_uuid(value: object) -> bool:
    return validate_uuid(value) is not None


def string_to_uuid(value: str | int) -> str:
    """ElizaOS `stringToUuid`: sha1 of the URI-encoded string, first 16 bytes, variant bits
    set and version nibble 0. A string that already is a UUID comes back unchanged."""
    text = str(value)
    if is_uuid(text):
        return text
    digest = bytearray(hashlib.sha1(quote(text, safe=_URI_COMPONENT_SAFE).encode()).digest()[:16])
    digest[8] = (digest[8] & 0x3F) | 0x80
    digest[6] &= 0x0F
    return str(uuid.UUID(bytes=bytes(digest)))


def create_unique_uuid(agent_id: str, base_id: str) -> str:
    """ElizaOS `createUniqueUuid(runtime, baseId)`: the agent's own id maps to itself,
    anything else to `stringToUuid(f"{baseId}:{agentId}")`."""
    if base_id == agent_id:
        return agent_id
    return string_to_uuid(f"{base_id}:{agent_id}")


def new_uuid() -> str:
    return str(uuid.uuid4())
