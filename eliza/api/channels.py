"""`/api/messaging/channels/*` (1.7), registered again as `/api/messaging/central-channels/*`
(1.5): the same handlers answer both. Every change goes through `server.messaging`."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from ..errors import AgentNotFound, AgentTurnFailed, BadRequest
from ..runtime.titles import channel_title
from .common import json_body, no_content, ok, query_int, server, uuid_param
from .contract import Cursor, declare
from .inputs import (
    MESSAGE,
    NAME,
    RAW,
    Array,
    Integer,
    Obj,
    Spec,
    Text,
    Uuid,
    first,
    invalid,
    pick,
)
from .messaging_common import author_from, body_server_id, idempotency_key, parse_cursor
from .streaming import json_listing

NO_RECIPIENT = "No running agent takes part in this channel, so none will answer now"

bp = Blueprint("channels", __name__)

MAX_LIST = 1000  # the web UI and api-client page with limit; at least 1000 must work
HTTP_TRANSPORT_WAIT = 60.0  # transport "http" waits this long for the agent's answer
SHORT = Text(max_chars=200)
TOPIC = Text(max_chars="max_message_chars")
POST: dict[str, Spec] = {
    "content": MESSAGE, "metadata": Obj(nullable=True), "raw_message": RAW,
    "transport": Text(max_chars=20, nullable=True),
}


CREATE = Obj(fields={
    "name": NAME, "message_server_id": Uuid(nullable=True), "messageServerId": Uuid(nullable=True),
    "serverId": Uuid(nullable=True), "type": Text(max_chars=20, nullable=True),
    "participantCentralUserIds": Array(items=Uuid(), nullable=True),
    "metadata": Obj(nullable=True), "sourceType": SHORT, "topic": TOPIC,
}, required=("name",))


def _participants_field(body: dict[str, Any]) -> Any:
    for key in ("participantCentralUserIds", "participantIds", "participants"):
        if key in body:
            return body[key]
    return None


@bp.post("")
@declare("Create a channel with its participants", tags="channels", status=201, body=CREATE)
async def create_channel() -> Any:
    """1.7 group create `{name, message_server_id, participantCentralUserIds?, type?,
    metadata?}`; also the 1.5 `{serverId, name, type, sourceType?, topic?}` shape."""
    body = await json_body()
    if not body.get("name"):
        raise invalid("name", "is required")
    channel = await server().messaging.create_channel(
        name=NAME.check(body["name"], "name"),
        message_server_id=body_server_id(body),
        type=Text(max_chars=20, nullable=True).check(body.get("type"), "type") or "GROUP",
        participants=_participants_field(body),
        metadata=Obj(nullable=True).check(body.get("metadata"), "metadata"),
        source_type=first(body, SHORT, "sourceType", "source_type"),
        source_id=first(body, SHORT, "sourceId", "source_id"),
        topic=first(body, TOPIC, "topic", "description"),
    )
    return ok(channel, 201)


@bp.get("/<channel_id>/details")
@declare("Get a channel (its metadata lists the participants)", tags="channels")
async def channel_details(channel_id: str) -> Any:
    channel_id = uuid_param(channel_id, "channel")
    channel = await server().messaging.get_channel(channel_id)
    members = await server().messaging.participants(channel_id)
    # The api-client's add/remove-user methods read this list, change it and PATCH it back
    # whole (participants are replaced): without it they would drop everyone else.
    metadata = {**(channel.get("metadata") or {}), "participantCentralUserIds": members}
    return ok({**channel, "metadata": metadata})


@bp.get("/<channel_id>/participants")
@declare("List a channel's participants", tags="channels")
async def channel_participants(channel_id: str) -> Any:
    # A bare array, as the original and the api-client have it.
    return ok(await server().messaging.participants(uuid_param(channel_id, "channel")))


@bp.get("/<channel_id>/agents")
@declare("List a channel's participants (agents view)", tags="channels")
async def channel_agents(channel_id: str) -> Any:
    channel_id = uuid_param(channel_id, "channel")
    members = await server().messaging.participants(channel_id)
    return ok({"channelId": channel_id, "participants": members})


@bp.post("/<channel_id>/agents")
@declare("Add an agent to a channel", tags="channels", status=201,
         body=Obj(fields={"agentId": Uuid()}))
async def add_agent(channel_id: str) -> Any:
    channel_id = uuid_param(channel_id, "channel")
    body = await json_body()
    agent_id = Uuid().check(body.get("agentId") or "", "agentId")
    await server().messaging.add_participant(channel_id, agent_id, agent=True)
    return ok({"channelId": channel_id, "agentId": agent_id,
               "message": "Agent added to channel successfully"}, 201)


@bp.delete("/<channel_id>/agents/<agent_id>")
@declare("Remove an agent from a channel", tags="channels")
async def remove_agent(channel_id: str, agent_id: str) -> Any:
    channel_id = uuid_param(channel_id, "channel")
    agent_id = uuid_param(agent_id, "agent")
    await server().messaging.remove_participant(channel_id, agent_id)
    return ok({"channelId": channel_id, "agentId": agent_id,
               "message": "Agent removed from channel successfully"})


@bp.get("/<channel_id>/messages")
@declare("List a channel's messages, newest first", tags="channels", query={
    "limit": Integer(clamp=(1, MAX_LIST)), "before": Cursor(), "after": Cursor()})
async def list_messages(channel_id: str) -> Any:
    channel_id = uuid_param(channel_id, "channel")
    batches = server().messaging.iter_messages(
        channel_id,
        limit=query_int("limit", 50, lo=1, hi=MAX_LIST),
        before=parse_cursor("before"),
        after=parse_cursor("after"),
    )
    # Streamed past one batch: 1000 messages of a few MB each are never held whole.
    return await json_listing(batches, lambda items: ok({"messages": items})[0])


@bp.post("/<channel_id>/messages")
@declare("Post a message to a channel", tags="channels", status=201, body=Obj(fields={
    **POST, "author_id": Uuid(), "message_server_id": Uuid(nullable=True),
    "source_type": SHORT, "in_reply_to_message_id": Uuid(nullable=True)}))
async def post_message(channel_id: str) -> Any:
    channel_id = uuid_param(channel_id, "channel")
    body = await json_body()
    author = author_from(body)
    if not author:
        raise BadRequest("Missing required fields: author_id (or the X-Entity-Id header), "
                         "content")
    fields = pick(body, POST)
    srv = server()
    posted = await srv.messaging.post_message(
        channel_id=channel_id,
        author_id=str(author),
        content=fields.get("content") or "",
        message_server_id=body_server_id(body),
        source_type=first(body, SHORT, "source_type", "sourceType") or "eliza_gui",
        raw_message=fields.get("raw_message"),
        metadata=fields.get("metadata") or {},
        in_reply_to=first(body, Uuid(), "in_reply_to_message_id", "inReplyToMessageId"),
        idempotency_key=idempotency_key(body),
    )
    answer: dict[str, Any] = {"success": True, "userMessage": posted.message,
                              "data": posted.message}
    if str(body.get("transport") or body.get("mode") or "") in ("http", "sync"):
        # 1.7's synchronous transport: wait (bounded) for the agent's answer, unless no
        # running agent took the message in (then nothing can answer: say so at once).
        if posted.created and not posted.recipients:
            answer["agentResponse"] = None
            answer["agentResponseReason"] = NO_RECIPIENT
        else:
            try:
                answer["agentResponse"] = await srv.messaging.wait_for_reply(
                    channel_id, posted.message["id"],
                    within=min(HTTP_TRANSPORT_WAIT, srv.settings.turn_timeout),
                )
            except AgentTurnFailed as failed:  # the message is stored; the answer failed
                answer.update(agentResponse=None, agentResponseReason=failed.message,
                              agentError=failed.to_dict()["error"])
    return answer, 201


@bp.delete("/<channel_id>/messages/<message_id>")
@declare("Delete a message", tags="channels", status=204)
async def delete_message(channel_id: str, message_id: str) -> Any:
    await server().messaging.delete_message(uuid_param(channel_id, "channel"),
                                            uuid_param(message_id, "message"))
    return no_content()


@bp.delete("/<channel_id>/messages")
@declare("Delete every message of a channel", tags="channels", status=204)
async def clear_messages(channel_id: str) -> Any:
    await server().messaging.clear_channel(uuid_param(channel_id, "channel"))
    return no_content()


@bp.patch("/<channel_id>")
@declare("Update a channel", tags="channels", body=Obj(fields={
    "name": NAME, "metadata": Obj(), "participantCentralUserIds": Array(items=Uuid())}))
async def update_channel(channel_id: str) -> Any:
    channel_id = uuid_param(channel_id, "channel")
    body = await json_body()
    kwargs: dict[str, Any] = {"name": NAME.check(body["name"], "name") if body.get("name")
                              is not None else None, "participants": _participants_field(body)}
    if "metadata" in body:
        kwargs["metadata"] = Obj().check(body["metadata"], "metadata")
    return ok(await server().messaging.update_channel(channel_id, **kwargs))


@bp.delete("/<channel_id>")
@declare("Delete a channel", tags="channels", status=204)
async def delete_channel(channel_id: str) -> Any:
    await server().messaging.delete_channel(uuid_param(channel_id, "channel"))
    return no_content()


@bp.post("/<channel_id>/generate-title")
@declare("Generate a channel title with the agent's model", tags="channels",
         body=Obj(fields={"agentId": Uuid()}), query={"agentId": Uuid()})
async def generate_title(channel_id: str) -> Any:
    channel_id = uuid_param(channel_id, "channel")
    body = await json_body()
    agent_id = body.get("agentId") or request.args.get("agentId")
    if not agent_id:
        raise BadRequest("Valid agent ID is required", code="INVALID_ID")
    runtime = server().agents.runtime_here(Uuid().check(agent_id, "agentId"))
    if runtime is None:
        raise AgentNotFound("Agent not found or not active")
    return ok(await channel_title(runtime, channel_id))
