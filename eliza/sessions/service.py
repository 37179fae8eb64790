"""SessionService: the Sessions API's state and rules over the store, as ElizaOS's sessions
API defines them.

Sessions live in the `sessions` table (unlike ElizaOS's in-memory map, they survive a
restart), so every read-modify-write of a session runs inside one store write: the store
serialises writes, which makes concurrent sends to one session count their renewals
correctly without a lock of our own. Messages go through the messaging service like every
other entry point, so each is stored and published exactly once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import ids
from ..clock import iso, now_ms
from ..errors import AgentNotFound
from ..messaging.service import Posted
from ..runtime.character import character_setting
from ..settings import SessionSettings
from ..store import sessions as sq
from . import rules
from .errors import (
    SessionCreationFailed,
    SessionExpired,
    SessionNotFound,
    SessionRenewalFailed,
    SessionValidationError,
)
from .rules import TimeoutConfig

if TYPE_CHECKING:
    from ..bus import MessageBus
    from ..messaging import MessagingService
    from ..runtime.ports import AgentDirectory
    from ..settings import Settings
    from ..store import Store

MAX_METADATA_CHARS = 10_240
AGENT_SETTING_KEYS = {
    "timeoutMinutes": "SESSION_TIMEOUT_MINUTES",
    "autoRenew": "SESSION_AUTO_RENEW",
    "maxDurationMinutes": "SESSION_MAX_DURATION_MINUTES",
    "warningThresholdMinutes": "SESSION_WARNING_THRESHOLD_MINUTES",
}
_EXPIRED: Any = object()  # a write found the session expired (and deleted it)

Mutation = Callable[[dict[str, Any], int], dict[str, Any] | None]

def session_uuid(value: Any, what: str = "session ID") -> str:
    valid = ids.validate_uuid(value)
    if valid is None:
        raise SessionValidationError(f"Invalid {what} format")
    return valid


class SessionService:
    def __init__(
        self,
        store: Store,
        bus: MessageBus,
        messaging: MessagingService,
        agents: AgentDirectory,
        settings: Settings,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self.bus = bus
        self.messaging = messaging
        self.agents = agents
        self.settings = settings
        self.started_at = time.time()
        # Epoch ms; tests swap it to move time without sleeping.
        self.clock = clock

    @property
    def defaults(self) -> SessionSettings:
        return self.settings.sessions

    # -- configuration --------------------------------------------------------------------

    def agent_config(self, agent_id: str) -> dict[str, Any]:
        """The agent's SESSION_* settings. Read on every call, not cached as ElizaOS does,
        so a PATCHed character applies to the next session at once."""
        if not self.agents.is_running(agent_id):
            return {}
        character = self.agents.opened_character(agent_id)
        config = {key: character_setting(character, name)
                  for key, name in AGENT_SETTING_KEYS.items()}
        return {k: v for k, v in config.items() if v is not None}

    def config_of(self, row: dict[str, Any]) -> TimeoutConfig:
        return TimeoutConfig.from_json(row["timeout_config"], self.defaults)

    # -- shapes ---------------------------------------------------------------------------

    def info(self, row: dict[str, Any], now: int | None = None) -> dict[str, Any]:
        """SessionInfo as the original sessions API shows it, with the `channelId` that the 1.7
        original adds."""
        now = self.clock() if now is None else now
        config = self.config_of(row)
        return {
            "sessionId": row["id"],
            "channelId": row["channel_id"],
            "agentId": row["agent_id"],
            "userId": row["user_id"],
            "createdAt": iso(row["created_at"]),
            "lastActivity": iso(row["last_activity"]),
            "metadata": row["metadata"],
            "expiresAt": iso(row["expires_at"]),
            "timeoutConfig": config.to_json(),
            "renewalCount": row["renewal_count"],
            "timeRemaining": rules.time_remaining(row["expires_at"], now),
            "isNearExpiration": rules.is_near_expiration(config, row["expires_at"], now),
        }

    def status(self, row: dict[str, Any], was_renewed: bool) -> dict[str, Any]:
        now = self.clock()
        return {
            "expiresAt": iso(row["expires_at"]),
            "renewalCount": row["renewal_count"],
            "wasRenewed": was_renewed,
            "isNearExpiration": rules.is_near_expiration(self.config_of(row), row["expires_at"],
                                                         now),
        }

    # -- lifecycle ------------------------------------------------------------------------

    async def create(
        self, agent_id: Any, user_id: Any, metadata: Any, timeout_config: Any
    ) -> dict[str, Any]:
        if not agent_id or not user_id:
            raise SessionValidationError("Missing required fields: agentId and userId")
        agent_id = session_uuid(agent_id, "agent ID")
        user_id = session_uuid(user_id, "user ID")
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise SessionValidationError("Metadata must be an object")
        if len(json.dumps(metadata)) > MAX_METADATA_CHARS:
            raise SessionValidationError(
                f"Metadata exceeds maximum size of {MAX_METADATA_CHARS} characters")
        request = rules.validate_request(timeout_config, self.defaults)
        if not self.agents.is_running(agent_id):
            raise AgentNotFound(f"Agent not found: {agent_id}")
        config = rules.merge(self.defaults, self.agent_config(agent_id), request)
        now = self.clock()
        session_id = ids.new_uuid()
        channel_id = ids.new_uuid()
        session = {
            "id": session_id, "agent_id": agent_id, "user_id": user_id,
            "channel_id": channel_id, "metadata": metadata,
            "timeout_config": config.to_json(), "created_at": now, "last_activity": now,
            "expires_at": rules.expires_at(config, created_at=now, last_activity=now, now=now),
            "renewal_count": 0, "warning_state": False,
        }
        # ElizaOS adds only the agent; the user joins too, so the web UI lists the channel
        # among the user's DMs and a socket `ROOM_JOINING` by the user is a member's join.
        channel = {
            "id": channel_id, "message_server_id": ids.DEFAULT_SERVER_ID,
            "name": f"session-{session_id}", "type": "DM", "source_type": "session",
            "source_id": session_id, "topic": None,
            "metadata": self.channel_metadata(session), "created_at": now, "updated_at": now,
        }
        try:
            await self.store.write(sq.create_session, session, channel,
                                          [agent_id, user_id])
        except Exception as exc:
            raise SessionCreationFailed("Failed to create session",
                                        details=f"{type(exc).__name__}: {exc}") from exc
        return {
            "sessionId": session_id, "channelId": channel_id, "agentId": agent_id,
            "userId": user_id, "createdAt": iso(now), "metadata": metadata,
            "expiresAt": iso(session["expires_at"]), "timeoutConfig": config.to_json(),
        }

    @staticmethod
    def channel_metadata(session: dict[str, Any]) -> dict[str, Any]:
        return {"sessionId": session["id"], "agentId": session["agent_id"],
                "userId": session["user_id"], "timeoutConfig": session["timeout_config"],
                "isDm": True, "channelType": "DM", **session["metadata"]}

    async def _mutate(self, session_id: Any, change: Mutation | None = None) -> dict[str, Any]:
        """Load a live session inside one write and apply `change(row, now)` (fields to
        update, or None). An expired session is deleted on the spot: 410 SESSION_EXPIRED.
        Errors raised by `change` roll the write back."""
        session_id = session_uuid(session_id)

        def write(db: Any) -> Any:
            row = sq.get_session(db, session_id)
            if row is None:
                return None
            now = self.clock()
            if rules.is_expired(row["expires_at"], now):
                sq.delete_session(db, session_id)
                return _EXPIRED
            fields = change(row, now) if change is not None else None
            return sq.update_session(db, session_id, fields) if fields else row

        row = await self.store.write(write)
        if row is None:
            raise SessionNotFound(f"Session with ID '{session_id}' not found")
        if row is _EXPIRED:
            raise SessionExpired(f"Session '{session_id}' has expired")
        assert isinstance(row, dict)
        return row

    async def get(self, session_id: Any) -> dict[str, Any]:
        return await self._mutate(session_id)

    def _renewal(self, row: dict[str, Any], now: int, *, force: bool) -> dict[str, Any] | None:
        """The fields of a renewal, or None when it is not allowed."""
        config = self.config_of(row)
        if not rules.can_renew(config, created_at=row["created_at"], now=now, force=force):
            return None
        if force:  # `POST /renew` computes the expiry as if autoRenew were on
            config = TimeoutConfig(config.timeoutMinutes, True, config.maxDurationMinutes,
                                   config.warningThresholdMinutes)
        return {"last_activity": now, "renewal_count": row["renewal_count"] + 1,
                "expires_at": rules.expires_at(config, created_at=row["created_at"],
                                               last_activity=now, now=now),
                "warning_state": False}

    async def renew(self, session_id: Any) -> dict[str, Any]:
        def change(row: dict[str, Any], now: int) -> dict[str, Any]:
            fields = self._renewal(row, now, force=True)
            if fields is None:
                raise SessionRenewalFailed(
                    f"Cannot renew session '{row['id']}': Maximum duration reached")
            return fields

        return self.info(await self._mutate(session_id, change))

    async def heartbeat(self, session_id: Any) -> dict[str, Any]:
        def change(row: dict[str, Any], now: int) -> dict[str, Any]:
            return self._renewal(row, now, force=False) or {"last_activity": now}

        return self.info(await self._mutate(session_id, change))

    async def touch_for_message(self, session_id: Any) -> tuple[dict[str, Any], bool]:
        """A message counts as activity: renew when allowed (one renewal per message),
        else just record it; flag the warning when the session is near its end."""
        renewed = False

        def change(row: dict[str, Any], now: int) -> dict[str, Any]:
            nonlocal renewed
            fields = self._renewal(row, now, force=False)
            renewed = fields is not None
            fields = fields or {"last_activity": now}
            expiry = fields.get("expires_at", row["expires_at"])
            if rules.is_near_expiration(self.config_of(row), expiry, now):
                fields["warning_state"] = True
            return fields

        row = await self._mutate(session_id, change)
        return row, renewed

    async def update_timeout(self, session_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        request = rules.validate_request(body, self.defaults)
        session_id = session_uuid(session_id)
        # Merged with the agent's config, not the session's: earlier overrides are dropped,
        # as ElizaOS does.
        current = await self.get(session_id)
        config = rules.merge(self.defaults, self.agent_config(current["agent_id"]), request)

        def change(row: dict[str, Any], now: int) -> dict[str, Any]:
            return {"timeout_config": config.to_json(),
                    "expires_at": rules.expires_at(config, created_at=row["created_at"],
                                                   last_activity=row["last_activity"],
                                                   now=now)}

        return self.info(await self._mutate(session_id, change))

    async def delete(self, session_id: Any) -> None:
        session_id = session_uuid(session_id)
        if not await self.store.write(sq.delete_session, session_id):
            raise SessionNotFound(f"Session with ID '{session_id}' not found")

    # -- messages -------------------------------------------------------------------------

    async def post(self, row: dict[str, Any], content: str, attachments: list[Any] | None,
                   metadata: dict[str, Any]) -> Posted:
        meta = {**self.channel_metadata(row), "sessionId": row["id"], **metadata}
        if attachments:
            meta["attachments"] = attachments  # agents read them from the metadata
        return await self.messaging.post_message(
            channel_id=row["channel_id"], author_id=row["user_id"], content=content,
            source_type="user", raw_message={"content": content, "attachments": attachments},
            metadata=meta, create_channel=False,
        )

    async def messages(self, session_id: Any, *, limit: int, before: int | None,
                       after: int | None) -> dict[str, Any]:
        row = await self.get(session_id)
        stored = await self.messaging.list_messages(
            row["channel_id"], limit=limit, before=before, after=after)
        out: dict[str, Any] = {"messages": [simplify(m) for m in stored],
                               "hasMore": len(stored) == limit}
        if stored:  # newest first: the last is the oldest
            out["cursors"] = {"before": stored[-1]["created_at"],
                              "after": stored[0]["created_at"]}
        return out

    # -- overview and sweeping -------------------------------------------------------------

    async def overview(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        """(active SessionInfos, expiring-soon ones among them, expired count)."""
        now = self.clock()
        active, expired = [], 0
        for row in await self.store.read(sq.all_sessions):
            if rules.is_expired(row["expires_at"], now):
                expired += 1
            else:
                active.append(self.info(row, now))
        return active, [s for s in active if s["isNearExpiration"]], expired

    async def health(self) -> dict[str, Any]:
        active, expiring, _ = await self.overview()
        invalid = sum(1 for s in active if not self.agents.is_running(s["agentId"]))
        body: dict[str, Any] = {
            "status": "healthy", "activeSessions": len(active),
            "timestamp": iso(self.clock()), "expiringSoon": len(expiring),
        }
        if invalid:  # sessions whose agent is not running cannot get an answer
            body["invalidSessions"] = invalid
        body["uptime"] = time.time() - self.started_at
        return body

    async def sweep(self) -> tuple[list[str], int]:
        """Delete expired sessions and flag the ones near expiry; (deleted ids, flagged)."""
        now = self.clock()

        def write(db: Any) -> tuple[list[str], int]:
            removed = sq.delete_expired(db, now)
            near = [r["id"] for r in sq.all_sessions(db) if not r["warning_state"]
                    and rules.is_near_expiration(self.config_of(r), r["expires_at"], now)]
            sq.mark_warned(db, near)
            return removed, len(near)

        return await self.store.write(write)


def simplify(message: dict[str, Any]) -> dict[str, Any]:
    """A channel message as the original session messages route shows it."""
    return {
        "id": message["id"],
        "content": message["content"],
        "authorId": message["authorId"],
        "isAgent": message.get("sourceType") == "agent_response",
        "createdAt": message["createdAt"],
        # message_json already lifted the agent's thought/actions/attachments into metadata
        "metadata": message.get("metadata") or {},
    }
