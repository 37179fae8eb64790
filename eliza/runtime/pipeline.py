"""The agent's side of a message, as ElizaOS's message handler does it: `handle_event` is
the turn handler the server gives the agent registry, called by each AgentRuntime for each
bus event in its inbox, one at a time.

For a NewMessage: check the agent takes part (channel participant, subscribed to the message
server, not its own message; a routed message was checked when stored and is checked again
in the transaction that takes it in, an unrouted one is looked up), write its memory of the
message (world/room/entity/memory ids via `create_unique_uuid`, exactly as ElizaOS), decide
whether to answer, call TEXT_LARGE (streamed chunks become MessageStreamChunk events), hand
the reply to the `replies` port in-process (never over loopback HTTP), then MessageComplete.
Every answered turn is logged as a run.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from .. import ids
from ..bus import (
    ChannelCleared,
    ChannelDeleted,
    Event,
    MessageDeleted,
    MessageRoute,
    NewMessage,
)
from ..clock import now_ms
from ..errors import DatabaseUnavailable
from ..store import agent_memory as am
from ..store import messaging as mq
from ..store import owed
from ..store.leases import LeaseLost
from ..store.runs import insert_log
from . import activity
from .models import ModelType
from .ports import TurnFailure

if TYPE_CHECKING:
    from .agent import AgentRuntime

cuu = ids.create_unique_uuid
# The ids that repeat turn after turn (an agent's world, room, author entity and their
# participation) are computed once; a sha1 and a UUID each is most of the cost.
stable_cuu = functools.lru_cache(maxsize=8192)(ids.create_unique_uuid)

# Room types where the agent always answers (ElizaOS bypasses shouldRespond for them).
ALWAYS_RESPOND_TYPES = frozenset({"DM", "VOICE_DM", "SELF", "API"})
ALWAYS_RESPOND_SOURCE = "client_chat"
HISTORY = 20  # room messages in the prompt
LOG_GRACE = 2.0  # seconds to record a failed run even while being cancelled
_TRUE = frozenset({"1", "true", "yes", "on"})


async def handle_event(runtime: AgentRuntime, event: Event) -> None:
    if isinstance(event, NewMessage):
        await on_new_message(runtime, event.message, event.route)
    elif isinstance(event, MessageDeleted):
        # ElizaOS looks up createUniqueUuid(messageId) and never finds the memory, whose id
        # is createUniqueUuid(messageId + "-" + agentId); we delete the right one.
        memory_id = cuu(runtime.agent_id, f"{event.message_id}-{runtime.agent_id}")
        await runtime.store.write(am.delete_memory, runtime.agent_id, memory_id)
    elif isinstance(event, ChannelCleared | ChannelDeleted):
        room_id = cuu(runtime.agent_id, event.channel_id)
        await runtime.store.write(am.delete_room_memories, runtime.agent_id, room_id)


@dataclass(frozen=True)
class Turn:
    """The ids of one incoming message, from this agent's point of view (world and room ids
    derived per agent from the central server and channel ids, as ElizaOS core does)."""

    message: dict[str, Any]
    channel: dict[str, Any]
    server_id: str
    world_id: str
    room_id: str
    entity_id: str
    memory_id: str

    @property
    def channel_id(self) -> str:
        return str(self.message["channel_id"])


def wants_to_respond(runtime: AgentRuntime, msg: dict[str, Any], room_type: str) -> bool:
    """ElizaOS's shouldRespond without the LLM: always in DM/API/SELF rooms and for
    client_chat sources; in a group when named, or when the character sets
    `respondInGroups`. Never to another agent's message, so two agents cannot loop."""
    if msg.get("source_type") == "agent_response" or runtime.agents.is_agent(msg["author_id"]):
        return False
    source = str(msg.get("source_type") or (msg.get("metadata") or {}).get("source") or "")
    if room_type in ALWAYS_RESPOND_TYPES or ALWAYS_RESPOND_SOURCE in source:
        return True
    if _truthy(runtime.get_setting("respondInGroups")) or _truthy(
        runtime.character.get("respondInGroups")
    ):
        return True
    names = {runtime.name, str(runtime.character.get("username") or "")} - {""}
    text = str(msg["content"])
    return any(re.search(rf"(?<!\w)@?{re.escape(n)}(?!\w)", text, re.I) for n in names)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


async def on_new_message(
    runtime: AgentRuntime, msg: dict[str, Any], route: MessageRoute | None = None
) -> None:
    if not all(msg.get(k) for k in ("id", "channel_id", "author_id", "content")):
        return
    agent_id = runtime.agent_id
    if msg["author_id"] == agent_id:
        return
    store = runtime.store
    server_id = str(msg.get("message_server_id") or msg.get("server_id") or ids.DEFAULT_SERVER_ID)
    if route is None:  # published without a route (not by the messaging service)
        channel, member, subscribed = await store.read(
            mq.agent_view, msg["channel_id"], agent_id, server_id
        )
        if channel is None or not member or not subscribed:
            return
    elif agent_id not in route.agents:
        return
    else:
        channel = route.channel
    # A routed message is owed (the messaging service wrote that in the transaction that
    # stored it); it is checked again when taken in, so an agent removed from the channel (or
    # unsubscribed from the server) while the message waited skips it.
    owed_path = route is not None
    turn = Turn(msg, channel, server_id, stable_cuu(agent_id, server_id),
                stable_cuu(agent_id, msg["channel_id"]), stable_cuu(agent_id, msg["author_id"]),
                cuu(agent_id, f"{msg['id']}-{agent_id}"))
    room_type = str(channel["type"] or (msg.get("metadata") or {}).get("channelType") or "GROUP")
    respond = wants_to_respond(runtime, msg, room_type)
    run_id = ids.new_uuid()
    started = now_ms()
    incoming = _incoming(runtime, turn, room_type)

    message_id = str(msg["id"])

    def take_in(db: Any) -> list[dict[str, Any]] | None:
        participant = stable_cuu(agent_id, f"{turn.entity_id}:{turn.room_id}")
        if owed_path:
            if not owed.is_owed(db, agent_id, message_id):
                return None  # settled already (answered or taken in): no second turn
            if not mq.takes_part(db, turn.channel_id, agent_id, server_id):
                owed.settle(db, agent_id, message_id)  # it left the channel meanwhile
                return None
            # A memory left by a turn that was cut short by a stop is kept as it is.
            am.take_in(db, incoming, participant)
        elif not am.take_in(db, incoming, participant):
            return None  # seen before: no second turn for one message
        if not respond:
            if owed_path:
                owed.settle(db, agent_id, message_id)
            return []
        _log(db, runtime, turn, run_id, "run_event", {"status": "started", "startTime": started})
        return am.recent_memories(db, agent_id, turn.room_id, HISTORY)

    history = await store.write(take_in)
    if history is None:
        return
    activity.took_in(runtime, _sender(msg), str(channel.get("name") or turn.channel_id),
                     str(msg["content"]), respond)
    if not respond:
        return
    activity.run_started(runtime, run_id)
    try:
        # A turn that answers records its end, and settles what it owed, in the transaction
        # that stores the reply.
        await _answer(runtime, turn, run_id, history, started, owed_path)
    except AlreadyAnswered:
        return  # another turn of the same message stored its reply first
    except LeaseLost:
        # This worker lost the agent (it paused past its lease): the new owner answers.
        runtime.log.warning("%s lost its lease during a turn; the reply was not stored",
                            runtime.name)
        return
    except BaseException as exc:
        status = "timeout" if isinstance(exc, trio.Cancelled) else "error"
        error = f"{type(exc).__name__}: {exc}"
        # Cut short by a stop (or shutdown), the message stays owed and is answered when the
        # agent runs again; so does one whose turn met a database outage (the agent takes it
        # in again once the database answers). A turn that failed or ran out of time is over.
        over = not ((isinstance(exc, trio.Cancelled) and runtime.stopping)
                    or isinstance(exc, DatabaseUnavailable))
        settle = owed_path and over
        # The UI keeps its input disabled until it hears the turn is over, even a failed one;
        # a turn that is over without an answer says why to whoever is chatting.
        failure = TurnFailure(agent_id, runtime.name, message_id,
                              activity.failure_reason(runtime, exc)) if over else None
        runtime.replies.complete(turn.channel_id, server_id, failure=failure)
        body = _ended(started, status, error)
        activity.run_ended(runtime, run_id, status, body["duration"])

        def end_run(db: Any) -> None:
            if runtime.fence is not None:
                runtime.fence.check(db)  # a worker that lost the agent leaves it owed
            _log(db, runtime, turn, run_id, "run_event", body)
            if settle:
                owed.settle(db, agent_id, message_id)

        # A worker that lost the agent records nothing: its new owner answers the message.
        with trio.CancelScope(shield=True), trio.move_on_after(LOG_GRACE), \
                contextlib.suppress(LeaseLost):
            await store.write(end_run)
        raise
    runtime.replies.complete(turn.channel_id, server_id)


def _ended(started: int, status: str, error: str | None = None) -> dict[str, Any]:
    """The body of the run_event that ends a run."""
    ended = now_ms()
    return {"status": status, "startTime": started, "endTime": ended,
            "duration": ended - started, **({"error": error} if error else {})}


class AlreadyAnswered(Exception):
    """The message was settled by another turn before this one stored its reply; raised in
    the reply's transaction, so the second reply is rolled back."""


async def _answer(
    runtime: AgentRuntime, turn: Turn, run_id: str, history: list[dict[str, Any]],
    started: int, owed_path: bool,
) -> None:
    """Generate and post the reply. One transaction stores the reply, the agent's memory
    of it, the model call's log and the run's `completed` run_event (the messaging
    service runs `record` inside its write), so a turn that answers costs one write after
    the one that took the message in."""
    msg = turn.message
    replies = runtime.replies
    reply_id = ids.new_uuid()

    async def on_chunk(chunk: str, index: int) -> None:
        replies.stream_chunk(message_id=reply_id, channel_id=turn.channel_id,
                               agent_id=runtime.agent_id, chunk=chunk, index=index,
                               in_reply_to=msg["id"])

    prompt = compose_prompt(runtime, history)
    params = {"prompt": prompt, "system": _system(runtime), "message": msg["content"],
              "roomId": turn.room_id, "channelId": turn.channel_id, "entityId": turn.entity_id,
              "messageId": msg["id"], "runId": run_id}
    t0 = time.perf_counter()
    text = await runtime.generate(ModelType.TEXT_LARGE, params, on_chunk=on_chunk)
    elapsed = round((time.perf_counter() - t0) * 1000, 3)
    provider = runtime.models.get(ModelType.TEXT_LARGE)
    plugin = provider.plugin if provider else None
    activity.model_called(runtime, ModelType.TEXT_LARGE.value, plugin, elapsed)
    model_log = {"modelType": ModelType.TEXT_LARGE.value, "modelKey": ModelType.TEXT_LARGE.value,
                 "provider": plugin, "executionTime": elapsed,
                 "params": activity.masked_params(runtime, params),
                 "prompt": activity.mask_text(runtime, prompt),
                 "response": activity.mask_text(runtime, text)}
    agent_id = runtime.agent_id

    def record(db: Any, posted: dict[str, Any] | None) -> None:
        if runtime.fence is not None:
            runtime.fence.check(db)  # a worker that paused past its lease stores nothing
        if owed_path and not owed.settle(db, agent_id, str(msg["id"])):
            raise AlreadyAnswered(str(msg["id"]))
        _log(db, runtime, turn, run_id, f"useModel:{ModelType.TEXT_LARGE.value}", model_log)
        if posted is not None:
            am.insert_memory(db, {
                "id": cuu(agent_id, f"{reply_id}-{agent_id}"), "type": "messages",
                "created_at": posted["created_at"], "entity_id": agent_id,
                "agent_id": agent_id, "room_id": turn.room_id, "world_id": turn.world_id,
                "content": {"text": text, "source": "agent_response", "actions": ["REPLY"],
                            "inReplyTo": turn.memory_id},
                "metadata": {"type": "message", "source": "agent_response",
                             "sourceId": reply_id,
                             "raw": {"senderName": runtime.name, "senderId": agent_id}},
            })
        _log(db, runtime, turn, run_id, "run_event", _ended(started, "completed"))

    room = str(turn.channel.get("name") or turn.channel_id)
    if not text.strip():
        await runtime.store.write(record, None)
        activity.run_ended(runtime, run_id, "completed without a reply", now_ms() - started)
        return
    meta = msg.get("metadata") or {}
    await replies.post_reply(
        channel_id=turn.channel_id, agent_id=runtime.agent_id, content=text,
        message_server_id=turn.server_id,
        raw_message={"text": text, "thought": "", "actions": ["REPLY"]},
        metadata={"agent_id": runtime.agent_id, "agentName": runtime.name,
                  "channelType": meta.get("channelType") or turn.channel["type"],
                  "isDm": turn.channel["type"] in ("DM", "VOICE_DM"), "runId": run_id},
        in_reply_to=msg["id"], message_id=reply_id, record=record,
    )
    activity.replied(runtime, room, text)
    activity.run_ended(runtime, run_id, "completed", now_ms() - started)


def _incoming(runtime: AgentRuntime, turn: Turn, room_type: str) -> am.IncomingMemory:
    msg = turn.message
    meta = msg.get("metadata") or {}
    agent_id = runtime.agent_id
    now = now_ms()
    source = msg.get("source_type") or "central-bus"
    sender = _sender(msg)
    attachments = meta.get("attachments")
    content: dict[str, Any] = {"text": msg["content"], "source": source}
    if isinstance(attachments, list):
        content["attachments"] = [
            {"id": a.get("id"), "url": a.get("url"), "title": a.get("name"),
             "contentType": a.get("type")} for a in attachments if isinstance(a, dict)]
    if msg.get("in_reply_to_message_id"):
        content["inReplyTo"] = cuu(agent_id, str(msg["in_reply_to_message_id"]))
    raw = msg.get("raw_message")
    return am.IncomingMemory(
        agent_id=agent_id,
        world={"id": turn.world_id, "agent_id": agent_id, "server_id": turn.server_id,
               "name": meta.get("serverName") or f"Server {turn.server_id[:8]}",
               "metadata": meta.get("serverMetadata"), "created_at": now},
        room={"id": turn.room_id, "agent_id": agent_id, "world_id": turn.world_id,
              "channel_id": turn.channel_id, "server_id": turn.server_id, "source": source,
              "type": room_type, "name": meta.get("channelName") or turn.channel["name"]
              or f"Channel {turn.channel_id[:8]}",
              "metadata": meta.get("channelMetadata"), "created_at": now},
        entity={"id": turn.entity_id, "agent_id": agent_id, "names": [sender],
                "metadata": {"author_id": msg["author_id"], "source": source},
                "created_at": now},
        memory={"id": turn.memory_id, "type": "messages", "entity_id": turn.entity_id,
                "agent_id": agent_id, "room_id": turn.room_id, "world_id": turn.world_id,
                "created_at": int(msg.get("created_at") or now), "content": content,
                "metadata": {**meta, "type": "message", "source": source,
                             "sourceId": msg["id"],
                             "raw": {**(raw if isinstance(raw, dict) else {}),
                                     "senderName": sender, "senderId": msg["author_id"]}}},
    )


def _sender(msg: dict[str, Any]) -> str:
    return str(msg.get("author_display_name") or f"User-{msg['author_id'][:8]}")


def _system(runtime: AgentRuntime) -> str:
    return str(runtime.character.get("system") or f"You are {runtime.name}.")


def compose_prompt(runtime: AgentRuntime, history: list[dict[str, Any]]) -> str:
    """Character system prompt and bio, then the room's recent messages, oldest first; the
    last line is the message to answer."""
    bio = runtime.character.get("bio") or []
    bio_lines = [bio] if isinstance(bio, str) else [str(b) for b in bio]
    lines = [_system(runtime), "", f"# About {runtime.name}", *bio_lines, "",
             "# Conversation"]
    for memory in history:
        raw = (memory.get("metadata") or {}).get("raw") or {}
        speaker = runtime.name if memory["entity_id"] == runtime.agent_id else str(
            raw.get("senderName") or "User")
        lines.append(f"{speaker}: {memory['content'].get('text', '')}")
    return "\n".join(lines)


def _log(db: Any, runtime: AgentRuntime, turn: Turn, run_id: str, type_: str,
         body: dict[str, Any]) -> None:
    insert_log(
        db, log_id=ids.new_uuid(), agent_id=runtime.agent_id, entity_id=runtime.agent_id,
        room_id=turn.room_id, type_=type_, created_at=now_ms(), run_id=run_id,
        body={"runId": run_id, "messageId": turn.message["id"], "roomId": turn.room_id,
              "entityId": turn.entity_id, "agentId": runtime.agent_id,
              "source": turn.message.get("source_type"), **body},
    )
