"""The JSON shapes of channels and messages, from store rows.

ElizaOS clients read messages in two dialects: the camelCase `CentralMessage` of the REST
API and the snake_case `MessageServiceStructure` of the bus and the 1.5 routes. A message
object we answer with carries both (extra keys are harmless; a missing one breaks a client).
"""

from __future__ import annotations

from typing import Any

from ..store.servers import iso


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


def _raw_dict(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("raw_message")
    return raw if isinstance(raw, dict) else {}


def message_struct(row: dict[str, Any], server_id: str) -> dict[str, Any]:
    """The bus payload (MessageServiceStructure), with the 1.7 and the 1.5 server key."""
    metadata = row.get("metadata") or {}
    return {
        "id": row["id"],
        "channel_id": row["channel_id"],
        "message_server_id": server_id,
        "server_id": server_id,
        "author_id": row["author_id"],
        "author_display_name": metadata.get("user_display_name")
        or metadata.get("authorDisplayName") or metadata.get("agentName"),
        "content": row["content"],
        "raw_message": row.get("raw_message"),
        "source_id": row.get("source_id"),
        "source_type": row.get("source_type"),
        "in_reply_to_message_id": row.get("in_reply_to_root_message_id"),
        "created_at": row["created_at"],
        "metadata": metadata,
    }


def message_json(row: dict[str, Any], server_id: str | None = None) -> dict[str, Any]:
    """A stored message: CentralMessage (camelCase, ISO dates) plus `created_at`/
    `updated_at` in ms as the channel-messages route gives them; with `server_id`, also the
    snake_case keys of MessageServiceStructure."""
    metadata = dict(row.get("metadata") or {})
    raw = _raw_dict(row)
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
