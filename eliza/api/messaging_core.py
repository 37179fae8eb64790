"""Core messaging routes: submit, complete (emits `messageComplete` to the room, which the
web UI waits for to re-enable its input; the original 1.5 server lacks it), action,
ingest-external, the DM channel lookup, and single messages. Bodies are accepted in
ElizaOS's snake_case and in the 1.7.2 api-client's camelCase, so that client's calls
succeed too."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from .. import ids
from ..errors import BadRequest
from .common import json_body, ok, server, uuid_param
from .messaging_common import author_from, body_server_id, idempotency_key

bp = Blueprint("messaging_core", __name__, url_prefix="/api/messaging")


def _first(body: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if body.get(key):
            return body[key]
    return None


async def _store_agent_message(body: dict[str, Any], default_source: str,
                               message_id: Any = None) -> dict[str, Any]:
    channel_id = _first(body, "channel_id", "channelId")
    author = _first(body, "author_id", "authorId", "agentId") or author_from(body)
    content = body.get("content")
    if not channel_id or not author or not content:
        raise BadRequest("Missing required fields: channel_id, author_id, content")
    raw = body.get("raw_message")
    posted = await server().messaging.post_message(
        channel_id=str(channel_id),
        author_id=str(author),
        content=content if isinstance(content, str) else "",
        message_server_id=body_server_id(body),
        source_type=_first(body, "source_type", "sourceType") or default_source,
        raw_message=raw if raw is not None else {"text": content},
        metadata=body.get("metadata") if isinstance(body.get("metadata"), dict) else None,
        in_reply_to=_first(body, "in_reply_to_message_id", "inReplyToMessageId"),
        message_id=message_id,
        idempotency_key=idempotency_key(body) if message_id is None else None,
        create_channel=False,
    )
    return posted.message


@bp.post("/submit")
async def submit() -> Any:
    """Store a message (agents' replies in ElizaOS); it is published like any other."""
    body = await json_body()
    return ok(await _store_agent_message(body, "agent_response"), 201)


@bp.post("/action")
async def action() -> Any:
    body = await json_body()
    message_id = body.get("messageId")
    if message_id is not None:
        message_id = uuid_param(str(message_id), "message")
    return ok(await _store_agent_message(body, "agent_action", message_id), 201)


@bp.patch("/action/<message_id>")
async def update_action(message_id: str) -> Any:
    body = await json_body()
    patch = {
        "content": body.get("content"),
        "raw_message": body.get("raw_message"),
        "source_type": body.get("source_type"),
        "in_reply_to_root_message_id": body.get("in_reply_to_message_id"),
        "metadata": body.get("metadata"),
        "author_id": body.get("author_id"),
    }
    if patch["author_id"] is not None:
        uuid_param(str(patch["author_id"]), "author_id")
    return ok(await server().messaging.update_message(uuid_param(message_id, "message"), patch))


@bp.post("/complete")
async def complete() -> Any:
    """Tell the channel's clients the agent is done (socket `messageComplete`). Takes
    `{channel_id, server_id}` or the api-client's `{messageId, status}`."""
    body = await json_body()
    channel_id = _first(body, "channel_id", "channelId", "roomId")
    server_id = body_server_id(body)
    if not channel_id and body.get("messageId"):
        message = await server().messaging.get_message(str(body["messageId"]))
        channel_id = message["channelId"]
        server_id = server_id or message.get("message_server_id")
    if not channel_id:
        raise BadRequest("Missing required fields: channel_id (or messageId)")
    channel = await server().messaging.get_channel(str(channel_id))
    server_id = server_id or channel["messageServerId"]
    server().messaging.complete(channel["id"], str(server_id))
    return {"success": True, "message": "Message completion notification sent",
            "data": {"channelId": channel["id"], "messageServerId": server_id,
                     "status": body.get("status") or "completed"}}


@bp.post("/ingest-external")
async def ingest_external() -> Any:
    """Messages from an outside platform: one ElizaOS MessageServiceStructure, or the
    api-client's `{platform, channelId, messages:[{id, authorId, content, ...}]}`. Outside
    ids that are not UUIDs are mapped with string_to_uuid; unknown channels are created."""
    body = await json_body()
    batch = body.get("messages")
    if isinstance(batch, list):
        channel = _first(body, "channelId", "channel_id")
        entries = [{**m, "channel_id": channel, "source_type": body.get("platform")}
                   for m in batch if isinstance(m, dict)]
    else:
        entries = [body]
    stored: list[str] = []
    for entry in entries:
        channel_id = _first(entry, "channel_id", "channelId")
        author = _first(entry, "author_id", "authorId")
        content = entry.get("content")
        if not channel_id or not author or not isinstance(content, str) or not content:
            raise BadRequest("Invalid external message payload")
        metadata = dict(entry.get("metadata") or {})
        if entry.get("author_display_name"):
            metadata.setdefault("user_display_name", entry["author_display_name"])
        posted = await server().messaging.post_message(
            channel_id=ids.string_to_uuid(str(channel_id)),
            author_id=ids.string_to_uuid(str(author)),
            content=content,
            message_server_id=body_server_id(entry) or body_server_id(body),
            source_type=_first(entry, "source_type", "sourceType") or "external",
            source_id=str(entry.get("source_id") or entry.get("id") or "") or None,
            raw_message=entry.get("raw_message"),
            metadata=metadata,
            idempotency_key=str(entry["id"]) if entry.get("id") else None,
        )
        stored.append(posted.message["id"])
    data: dict[str, Any] = {"messageId": stored[0] if stored else None, "messageIds": stored}
    return {"success": True, "message": "Message ingested and published to bus",
            "data": data}, 202


@bp.get("/dm-channel")
async def dm_channel() -> Any:
    current = request.args.get("currentUserId")
    target = request.args.get("targetUserId")
    if not current or not target:
        raise BadRequest("Missing targetUserId or currentUserId")
    return ok(await server().messaging.get_or_create_dm(
        current, target, request.args.get("dmServerId")
    ))


@bp.get("/messages/<message_id>")
async def get_message(message_id: str) -> Any:
    return ok(await server().messaging.get_message(uuid_param(message_id, "message")))


@bp.patch("/messages/<message_id>")
async def update_message(message_id: str) -> Any:
    body = await json_body()
    content = body.get("content")
    if content is not None and (not isinstance(content, str) or not content.strip()):
        raise BadRequest("content must be a non-empty string")
    patch = {"content": content, "metadata": body.get("metadata")}
    return ok(await server().messaging.update_message(uuid_param(message_id, "message"), patch))
