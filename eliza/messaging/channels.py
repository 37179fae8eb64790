"""Channel and message-server operations of the messaging service. Each change commits,
then publishes its bus event (ChannelUpdated, ChannelDeleted, ChannelCleared,
ServerAgentUpdate) so agents and the socket layer hear of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import ids
from ..bus import ChannelCleared, ChannelDeleted, ChannelUpdated, ServerAgentUpdate
from ..clock import now_ms
from ..errors import BadRequest, ChannelNotFound, InvalidId, NotFound
from ..store import message_servers as sq
from ..store import messaging as mq
from ..store.message_servers import all_servers
from .shapes import channel_json

if TYPE_CHECKING:
    from ..bus import MessageBus
    from ..runtime.ports import AgentDirectory
    from ..store import Store

CHANNEL_TYPES = frozenset({"SELF", "DM", "GROUP", "VOICE_DM", "VOICE_GROUP", "FEED", "THREAD",
                           "WORLD", "FORUM", "API"})
_UNSET: Any = object()


def _uuid(value: Any, what: str) -> str:
    valid = ids.validate_uuid(value)
    if valid is None:
        raise InvalidId(f"Invalid {what} format")
    return valid


def _uuid_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"{what} must be an array of UUIDs")
    return [_uuid(v, what) for v in value]


def is_dm_metadata(meta: dict[str, Any]) -> bool:
    kind = meta.get("channelType") or meta.get("channel_type")
    return bool(meta.get("isDm")) or kind in ("DM", "VOICE_DM")


def auto_channel(
    channel_id: str, server_id: str, author_id: str, meta: dict[str, Any], now: int
) -> tuple[dict[str, Any], list[str]]:
    """The channel a post to an unknown channel id creates, as ElizaOS's web UI expects
    (a DM when the metadata says so, with the target user as second member)."""
    dm = is_dm_metadata(meta)
    members = [author_id]
    target = ids.validate_uuid(meta.get("targetUserId") or meta.get("recipientId"))
    if dm and target:
        members.append(target)
    channel = {
        "id": channel_id,
        "message_server_id": server_id,
        "name": f"{'DM' if dm else 'Chat'} {channel_id[:8]}",
        "type": "DM" if dm else "GROUP",
        "source_type": "auto_created",
        "metadata": {"created_by": "gui_auto_creation", "created_for_user": author_id,
                     "created_at": now, "channel_type": "DM" if dm else "GROUP", **meta},
        "created_at": now,
        "updated_at": now,
    }
    return channel, members


class ChannelOps:
    store: Store
    bus: MessageBus
    agents: AgentDirectory

    # -- channels -----------------------------------------------------------------------

    async def create_channel(
        self,
        *,
        name: str,
        message_server_id: str | None = None,
        type: str = "GROUP",
        participants: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        source_type: str | None = None,
        source_id: str | None = None,
        topic: str | None = None,
        channel_id: str | None = None,
    ) -> dict[str, Any]:
        """Create a channel with its participants (none is fine); returns its JSON."""
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("name is required")
        server_id = _uuid(message_server_id or ids.DEFAULT_SERVER_ID, "message_server_id")
        kind = str(type or "GROUP").upper()
        if kind not in CHANNEL_TYPES:
            raise BadRequest(f"Invalid channel type {type!r}")
        if metadata is not None and not isinstance(metadata, dict):
            raise BadRequest("metadata must be an object")
        members = _uuid_list(participants, "participantCentralUserIds")
        now = now_ms()
        row: dict[str, Any] = {
            "id": _uuid(channel_id, "channel ID") if channel_id else ids.new_uuid(),
            "message_server_id": server_id, "name": name, "type": kind,
            "source_type": source_type, "source_id": source_id, "topic": topic,
            "metadata": metadata or {}, "created_at": now, "updated_at": now,
        }

        def write(db: Any) -> dict[str, Any]:
            if sq.get_server(db, server_id) is None:
                raise NotFound(f"Message server {server_id} not found")
            mq.insert_channel(db, row, members)
            channel = mq.get_channel(db, row["id"])
            assert channel is not None
            return channel

        return channel_json(await self.store.write(write))

    async def get_channel(self, channel_id: str) -> dict[str, Any]:
        row = await self.store.read(mq.get_channel, _uuid(channel_id, "channel ID"))
        if row is None:
            raise ChannelNotFound("Channel not found")
        return channel_json(row)

    async def list_channels(self, message_server_id: str) -> list[dict[str, Any]]:
        server_id = _uuid(message_server_id, "serverId")
        return [channel_json(r) for r in
                await self.store.read(mq.channels_for_server, server_id)]

    async def participants(self, channel_id: str) -> list[str]:
        channel_id = _uuid(channel_id, "channel ID")

        def read(db: Any) -> list[str] | None:
            if mq.get_channel(db, channel_id) is None:
                return None
            return mq.participants(db, channel_id)

        members = await self.store.read(read)
        if members is None:
            raise ChannelNotFound("Channel not found")
        return members

    async def get_or_create_dm(
        self, current_user_id: str, target_user_id: str, message_server_id: str | None = None
    ) -> dict[str, Any]:
        """Find or create the DM channel of two users, keyed on (server, DM, sorted names)."""
        a = _uuid(current_user_id, "currentUserId")
        b = _uuid(target_user_id, "targetUserId")
        if a == b:
            raise BadRequest("Cannot create DM channel with oneself")
        low, high = sorted((a, b))
        name = f"DM-{low}-{high}"
        wanted = ids.validate_uuid(message_server_id) or ids.DEFAULT_SERVER_ID
        now = now_ms()

        def write(db: Any) -> dict[str, Any]:
            server_id = wanted if sq.get_server(db, wanted) else ids.DEFAULT_SERVER_ID
            # No unique key to race on (a DM is a name): concurrent lookups of one pair on
            # several connections would each create it, so they take turns.
            db.lock(f"dm:{server_id}:{name}")
            found = mq.find_dm_channel(db, server_id, name)
            if found is not None:
                return found
            channel_id = ids.new_uuid()
            mq.insert_channel(db, {
                "id": channel_id, "message_server_id": server_id, "name": name, "type": "DM",
                "source_type": None, "source_id": None, "topic": None,
                "metadata": {"user1": a, "user2": b}, "created_at": now, "updated_at": now,
            }, [a, b])
            created = mq.get_channel(db, channel_id)
            assert created is not None
            return created

        return channel_json(await self.store.write(write))

    async def update_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        metadata: Any = _UNSET,
        participants: list[str] | None = None,
    ) -> dict[str, Any]:
        """Patch name / metadata (replaced) / participants (replaced); ChannelUpdated."""
        channel_id = _uuid(channel_id, "channel ID")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise BadRequest("name must be a non-empty string")
        if metadata is not _UNSET and metadata is not None and not isinstance(metadata, dict):
            raise BadRequest("metadata must be an object")
        members = None if participants is None else _uuid_list(participants,
                                                                "participantCentralUserIds")
        row = await self.store.write(
            lambda db: mq.update_channel(
                db, channel_id, name=name, metadata=None if metadata is _UNSET else metadata,
                set_metadata=metadata is not _UNSET, participants=members, now=now_ms(),
            )
        )
        if row is None:
            raise ChannelNotFound("Channel not found")
        channel = channel_json(row)
        self.bus.publish(ChannelUpdated(channel_id=channel_id, updates=channel))
        return channel

    async def delete_channel(self, channel_id: str) -> None:
        channel_id = _uuid(channel_id, "channel ID")
        if not await self.store.write(mq.delete_channel, channel_id):
            raise ChannelNotFound("Channel not found")
        self.bus.publish(ChannelDeleted(channel_id=channel_id))

    async def clear_channel(self, channel_id: str) -> int:
        """Delete ALL the channel's messages; ChannelCleared. Returns how many."""
        channel_id = _uuid(channel_id, "channel ID")

        def write(db: Any) -> int | None:
            if mq.get_channel(db, channel_id) is None:
                return None
            return mq.clear_channel(db, channel_id)

        count = await self.store.write(write)
        if count is None:
            raise ChannelNotFound("Channel not found")
        self.bus.publish(ChannelCleared(channel_id=channel_id))
        return count

    async def add_participant(self, channel_id: str, user_id: str, *, agent: bool = False
                              ) -> None:
        """Add a user (or, with `agent`, a known agent) to a channel."""
        channel_id = _uuid(channel_id, "channel ID")
        user_id = _uuid(user_id, "agentId" if agent else "userId")
        if agent:
            self.agents.get(user_id)

        def write(db: Any) -> bool:
            if mq.get_channel(db, channel_id) is None:
                return False
            mq.add_participants(db, channel_id, [user_id])
            return True

        if not await self.store.write(write):
            raise ChannelNotFound("Channel not found")

    async def remove_participant(self, channel_id: str, user_id: str) -> None:
        channel_id = _uuid(channel_id, "channel ID")
        user_id = _uuid(user_id, "agentId")

        def write(db: Any) -> str:
            if mq.get_channel(db, channel_id) is None:
                return "channel"
            return "" if mq.remove_participant(db, channel_id, user_id) else "member"

        missing = await self.store.write(write)
        if missing == "channel":
            raise ChannelNotFound("Channel not found")
        if missing:
            raise NotFound("Agent is not a participant in this channel")

    # -- message servers ------------------------------------------------------------------

    async def list_servers(self) -> list[dict[str, Any]]:
        return await self.store.read(all_servers)

    async def get_server(self, server_id: str) -> dict[str, Any]:
        found = await self.store.read(sq.get_server, _uuid(server_id, "serverId"))
        if found is None:
            raise NotFound("Message server not found")
        return found

    async def create_server(
        self, *, name: str, source_type: str, source_id: str | None = None,
        metadata: dict[str, Any] | None = None, server_id: str | None = None,
    ) -> dict[str, Any]:
        if not isinstance(name, str) or not name.strip() or not source_type:
            raise BadRequest("Missing required fields: name, sourceType")
        now = now_ms()
        row = {"id": _uuid(server_id, "server ID") if server_id else ids.new_uuid(),
               "name": name, "source_type": str(source_type), "source_id": source_id,
               "metadata": metadata, "created_at": now, "updated_at": now}
        return await self.store.write(sq.create_server, row)

    async def delete_server(self, server_id: str) -> None:
        server_id = _uuid(server_id, "serverId")
        if server_id == ids.DEFAULT_SERVER_ID:
            raise BadRequest("The default message server cannot be deleted")
        if not await self.store.write(sq.delete_server, server_id):
            raise NotFound("Message server not found")

    async def server_agents(self, server_id: str) -> list[str]:
        return await self.store.read(sq.server_agents, _uuid(server_id, "serverId"))

    async def agent_servers(self, agent_id: str) -> list[str]:
        return await self.store.read(sq.agent_servers, _uuid(agent_id, "agentId"))

    async def add_agent_to_server(self, server_id: str, agent_id: str) -> None:
        server_id = _uuid(server_id, "serverId")
        agent_id = _uuid(agent_id, "agentId")
        self.agents.get(agent_id)

        def write(db: Any) -> bool:
            if sq.get_server(db, server_id) is None:
                return False
            sq.add_server_agent(db, server_id, agent_id)
            return True

        if not await self.store.write(write):
            raise NotFound("Message server not found")
        self.bus.publish(ServerAgentUpdate(
            type="agent_added_to_server", message_server_id=server_id, agent_id=agent_id))

    async def remove_agent_from_server(self, server_id: str, agent_id: str) -> None:
        server_id = _uuid(server_id, "serverId")
        agent_id = _uuid(agent_id, "agentId")
        await self.store.write(sq.remove_server_agent, server_id, agent_id)
        self.bus.publish(ServerAgentUpdate(
            type="agent_removed_from_server", message_server_id=server_id, agent_id=agent_id))
