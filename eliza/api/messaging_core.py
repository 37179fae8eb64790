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
from .contract import declare
from .inputs import MESSAGE, RAW, Integer, Obj, OneOf, Spec, Text, Uuid, first, pick
from .messaging_common import author_from, body_server_id, idempotency_key

bp = Blueprint("messaging_core", __name__, url_prefix="/api/messaging")


SOURCE = Text(max_chars=100)
# An outside platform's id: mapped to a UUID with string_to_uuid when it is not one.
OUTSIDE_ID = OneOf(options=(Text(max_chars=200), Integer()),
                   problem="must be a string or an integer", nullable=True)
# The fields a PATCH of a message may change, each checked before anything is written.
MESSAGE_PATCH: dict[str, Spec] = {
    "content": MESSAGE, "metadata": Obj(nullable=True), "raw_message": RAW,
    "source_type": Text(max_chars=100, nullable=True),
    "in_reply_to_message_id": Uuid(nullable=True), "author_id": Uuid(nullable=True),
}


AGENT_MESSAGE = Obj(fields={
    "channel_id": Uuid(), "channelId": Uuid(), "author_id": Uuid(), "authorId": Uuid(),
    "agentId": Uuid(), "content": MESSAGE, "raw_message": RAW, "metadata": Obj(nullable=True),
    "source_type": SOURCE, "sourceType": SOURCE, "in_reply_to_message_id": Uuid(nullable=True),
    "message_server_id": Uuid(nullable=True), "messageServerId": Uuid(nullable=True),
})


def _first(body: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if body.get(key):
            return body[key]
    return None


async def _store_agent_message(body: dict[str, Any], default_source: str,
                               message_id: Any = None) -> dict[str, Any]:
    channel_id = first(body, Uuid(), "channel_id", "channelId")
    author = first(body, Uuid(), "author_id", "authorId", "agentId") or author_from(body)
    content = body.get("content")
    if not channel_id or not author or not content:
        raise BadRequest("Missing required fields: channel_id, author_id, content")
    content = MESSAGE.check(content, "content")
    raw = RAW.check(body.get("raw_message"), "raw_message")
    metadata = Obj(nullable=True).check(body.get("metadata"), "metadata")
    posted = await server().messaging.post_message(
        channel_id=channel_id,
        author_id=str(author),
        content=content,
        message_server_id=body_server_id(body),
        source_type=first(body, SOURCE, "source_type", "sourceType") or default_source,
        raw_message=raw if raw is not None else {"text": content},
        metadata=metadata,
        in_reply_to=first(body, Uuid(), "in_reply_to_message_id", "inReplyToMessageId"),
        message_id=message_id,
        idempotency_key=idempotency_key(body) if message_id is None else None,
        create_channel=False,
    )
    return posted.message


@bp.post("/submit")
@declare("Store an agent's message (published like any other)", tags="messages", status=201,
         body=AGENT_MESSAGE)
async def submit() -> Any:
    """Store a message (agents' replies in ElizaOS); it is published like any other."""
    body = await json_body()
    return ok(await _store_agent_message(body, "agent_response"), 201)


@bp.post("/action")
@declare("Store an agent's action message", tags="messages", status=201,
         body=Obj(fields={**AGENT_MESSAGE.fields, "messageId": Uuid(nullable=True)}))
async def action() -> Any:
    body = await json_body()
    message_id = Uuid(nullable=True).check(body.get("messageId"), "messageId")
    return ok(await _store_agent_message(body, "agent_action", message_id), 201)


@bp.patch("/action/<message_id>")
@declare("Update an action message", tags="messages", body=Obj(fields=MESSAGE_PATCH))
async def update_action(message_id: str) -> Any:
    message_id = uuid_param(message_id, "message")
    fields = pick(await json_body(), MESSAGE_PATCH)
    patch = {key: fields.get(key) for key in
             ("content", "raw_message", "source_type", "metadata", "author_id")}
    patch["in_reply_to_root_message_id"] = fields.get("in_reply_to_message_id")
    return ok(await server().messaging.update_message(message_id, patch))


@bp.post("/complete")
@declare("Tell the channel's clients the agent is done", tags="messages", body=Obj(fields={
    "channel_id": Uuid(), "channelId": Uuid(), "roomId": Uuid(), "messageId": Uuid(),
    "status": Text(max_chars=100)}))
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


def _external(entry: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """`post_message`'s arguments for one outside message, every field checked."""
    channel_id = first(entry, OUTSIDE_ID, "channel_id", "channelId")
    author = first(entry, OUTSIDE_ID, "author_id", "authorId")
    content = entry.get("content")
    if not channel_id or not author or not isinstance(content, str) or not content:
        raise BadRequest("Invalid external message payload")
    metadata = dict(Obj(nullable=True).check(entry.get("metadata"), "metadata") or {})
    outside_id = OUTSIDE_ID.check(entry.get("id"), "id")
    source_id = OUTSIDE_ID.check(entry.get("source_id"), "source_id") or outside_id
    display = Text(max_chars="max_name_chars", nullable=True).check(
        entry.get("author_display_name"), "author_display_name")
    if display:
        metadata.setdefault("user_display_name", display)
    return {
        "channel_id": ids.string_to_uuid(str(channel_id)),
        "author_id": ids.string_to_uuid(str(author)),
        "content": MESSAGE.check(content, "content"),
        "message_server_id": body_server_id(entry) or body_server_id(body),
        "source_type": first(entry, SOURCE, "source_type", "sourceType") or "external",
        "source_id": str(source_id) if source_id else None,
        "raw_message": entry.get("raw_message"),
        "metadata": metadata,
        "idempotency_key": str(outside_id) if outside_id else None,
    }


@bp.post("/ingest-external")
@declare("Ingest messages from an outside platform", tags="messages", status=202)
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
    # Every entry is checked before the first is stored: a bad one stores nothing.
    prepared = [_external(entry, body) for entry in entries]
    stored: list[str] = []
    for kwargs in prepared:
        posted = await server().messaging.post_message(**kwargs)
        stored.append(posted.message["id"])
    data: dict[str, Any] = {"messageId": stored[0] if stored else None, "messageIds": stored}
    return {"success": True, "message": "Message ingested and published to bus",
            "data": data}, 202


@bp.get("/dm-channel")
@declare("Find or create the DM channel of two users", tags="messages", query={
    "currentUserId": Uuid(), "targetUserId": Uuid(), "dmServerId": Uuid()})
async def dm_channel() -> Any:
    current = request.args.get("currentUserId")
    target = request.args.get("targetUserId")
    if not current or not target:
        raise BadRequest("Missing targetUserId or currentUserId")
    return ok(await server().messaging.get_or_create_dm(
        current, target, request.args.get("dmServerId")
    ))


@bp.get("/messages/<message_id>")
@declare("Get a message", tags="messages")
async def get_message(message_id: str) -> Any:
    return ok(await server().messaging.get_message(uuid_param(message_id, "message")))


@bp.patch("/messages/<message_id>")
@declare("Edit a message's content or metadata", tags="messages",
         body=Obj(fields={"content": MESSAGE, "metadata": Obj(nullable=True)}))
async def update_message(message_id: str) -> Any:
    message_id = uuid_param(message_id, "message")
    fields = pick(await json_body(), {"content": MESSAGE, "metadata": Obj(nullable=True)})
    patch = {"content": fields.get("content"), "metadata": fields.get("metadata")}
    return ok(await server().messaging.update_message(message_id, patch))
