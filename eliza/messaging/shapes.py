"""The JSON shapes of channels and messages, from store rows.

ElizaOS clients read messages in two dialects: the camelCase `CentralMessage` of the REST
API and the snake_case `MessageServiceStructure` of the bus and the 1.5 routes. A message
object we answer with carries both (extra keys are harmless; a missing one breaks a client).
"""

from __future__ import annotations

from typing import Any

from ..bus.events import message_struct, raw_dict
from ..clock import iso


def channel_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "messageServerId": row["message_server_id"],
        # 1.5 name of the same key, for older callers
        "serverId": row["message_server_id"],
        "name": row["name"],
        "type": row["type"],
        "sourceType": row.get("source_type"),
        "sourceId": row.get("source_id"),
        "topic": row.get("topic"),
        "metadata": row.get("metadata") or {},
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def message_json(row: dict[str, Any], server_id: str | None = None) -> dict[str, Any]:
    """A stored message: CentralMessage (camelCase, ISO dates) plus `created_at`/
    `updated_at` in ms as the channel-messages route gives them; with `server_id`, also the
    snake_case keys of MessageServiceStructure."""
    metadata = dict(row.get("metadata") or {})
    raw = raw_dict(row)
    # The list route surfaces the agent's thought/actions/attachments in metadata.
    for key in ("thought", "actions", "attachments"):
        if key in raw and key not in metadata:
            metadata[key] = raw[key]
    created = iso(row["created_at"])
    out: dict[str, Any] = {
        "id": row["id"],
        "channelId": row["channel_id"],
        "authorId": row["author_id"],
        "content": row["content"],
        "rawMessage": row.get("raw_message"),
        "sourceType": row.get("source_type"),
        "sourceId": row.get("source_id"),
        "inReplyToRootMessageId": row.get("in_reply_to_root_message_id"),
        "metadata": metadata,
        "createdAt": created,
        "updatedAt": created if row["updated_at"] == row["created_at"]
        else iso(row["updated_at"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    if server_id is not None:
        struct = message_struct(row, server_id)
        for key, value in struct.items():
            out.setdefault(key, value)
    return out
