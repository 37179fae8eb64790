"""The core tables, as a named migration set (plugins that own tables bring their own set).

Tables follow the ElizaOS data model (its plugin-sql tables), so ids and shapes line up.
Timestamps are epoch milliseconds; JSON documents are stored as TEXT.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from ..clock import now_ms
from ..ids import DEFAULT_SERVER_ID
from .jobs import create_jobs_table
from .pg_schema import (
    dialect_of,
    embedding_triggers_postgres,
    fast_ascii_folding,
    text_search_postgres,
)

core = Migrations("eliza")


@core()
def m001_agents_servers_logs(db: Database) -> None:
    db.execute(
        """CREATE TABLE agents (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            enabled INTEGER NOT NULL DEFAULT 1,
            -- the agent was running when last seen, so a restart starts it again
            running INTEGER NOT NULL DEFAULT 0,
            character TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE message_servers (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            source_type TEXT NOT NULL,
            source_id TEXT,
            metadata TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE server_agents (
            server_id TEXT NOT NULL REFERENCES message_servers(id) ON DELETE CASCADE,
            agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
            PRIMARY KEY (server_id, agent_id)
        )"""
    )
    db.execute("CREATE INDEX server_agents_agent ON server_agents(agent_id)")
    db.execute(
        """CREATE TABLE logs (
            id TEXT PRIMARY KEY,
            created_at INTEGER NOT NULL,
            agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
            entity_id TEXT NOT NULL,
            room_id TEXT,
            type TEXT NOT NULL,
            body TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX logs_agent_time ON logs(agent_id, created_at)")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    now = now_ms()
    db.execute(
        "INSERT INTO message_servers (id, name, source_type, created_at, updated_at)"
        " VALUES (?, 'Default Server', 'eliza_default', ?, ?)",
        [DEFAULT_SERVER_ID, now, now],
    )


@core()
def m002_messaging(db: Database) -> None:
    """Central messaging (channels, participants, messages) and the agent-side tables
    (worlds, rooms, entities, participants, memories), simplified from ElizaOS's plugin-sql."""
    db.execute(
        """CREATE TABLE channels (
            id TEXT PRIMARY KEY,
            message_server_id TEXT NOT NULL REFERENCES message_servers(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            source_type TEXT,
            source_id TEXT,
            topic TEXT,
            metadata TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX channels_server ON channels(message_server_id, created_at)")
    # DM lookups are keyed on (server, type, name) as ElizaOS's findOrCreateDmChannel does.
    db.execute("CREATE INDEX channels_dm ON channels(message_server_id, type, name)")
    db.execute(
        """CREATE TABLE channel_participants (
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            user_id TEXT NOT NULL,
            PRIMARY KEY (channel_id, user_id)
        )"""
    )
    db.execute("CREATE INDEX channel_participants_user ON channel_participants(user_id)")
    db.execute(
        """CREATE TABLE central_messages (
            id TEXT PRIMARY KEY,
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            author_id TEXT NOT NULL,
            content TEXT NOT NULL,
            raw_message TEXT,
            in_reply_to_root_message_id TEXT
                REFERENCES central_messages(id) ON DELETE SET NULL,
            source_type TEXT,
            source_id TEXT,
            metadata TEXT,
            -- the client's own message id: a replay with the same key returns the stored row
            idempotency_key TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX central_messages_channel ON central_messages(channel_id, created_at)")
    db.execute(
        "CREATE INDEX central_messages_reply ON central_messages(in_reply_to_root_message_id)"
    )
    db.execute(
        "CREATE UNIQUE INDEX central_messages_idem ON central_messages(channel_id, idempotency_key)"
        " WHERE idempotency_key IS NOT NULL"
    )
    db.execute(
        """CREATE TABLE worlds (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            server_id TEXT NOT NULL DEFAULT 'local',
            metadata TEXT,
            created_at INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX worlds_agent ON worlds(agent_id)")
    db.execute(
        """CREATE TABLE rooms (
            id TEXT PRIMARY KEY,
            agent_id TEXT REFERENCES agents(id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            type TEXT NOT NULL,
            server_id TEXT,
            world_id TEXT,
            name TEXT,
            metadata TEXT,
            channel_id TEXT,
            created_at INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX rooms_agent ON rooms(agent_id)")
    db.execute(
        """CREATE TABLE entities (
            id TEXT NOT NULL,
            agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
            names TEXT NOT NULL DEFAULT '[]',
            metadata TEXT NOT NULL DEFAULT '{}',
            created_at INTEGER NOT NULL,
            PRIMARY KEY (id, agent_id)
        )"""
    )
    db.execute(
        """CREATE TABLE participants (
            id TEXT PRIMARY KEY,
            entity_id TEXT NOT NULL,
            room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
            agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
            room_state TEXT,
            created_at INTEGER NOT NULL,
            UNIQUE (entity_id, room_id)
        )"""
    )
    db.execute(
        """CREATE TABLE memories (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            content TEXT NOT NULL,
            entity_id TEXT,
            agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
            room_id TEXT REFERENCES rooms(id) ON DELETE CASCADE,
            world_id TEXT,
            "unique" INTEGER NOT NULL DEFAULT 1,
            metadata TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("CREATE INDEX memories_room ON memories(agent_id, type, room_id, created_at)")
    db.execute("CREATE INDEX memories_world ON memories(world_id)")
    # Runs group logs by runId; a column makes a run's detail one lookup.
    db.execute("ALTER TABLE logs ADD COLUMN run_id TEXT")
    db.execute("CREATE INDEX logs_run ON logs(agent_id, run_id)")
    db.execute("CREATE INDEX logs_agent_type ON logs(agent_id, type, created_at)")


@core()
def m003_sessions(db: Database) -> None:
    """Sessions API state, stored so sessions survive a restart.
    A session dies with its agent or its channel: it could not be used without them."""
    db.execute(
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
            user_id TEXT NOT NULL,
            channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            metadata TEXT NOT NULL DEFAULT '{}',
            -- the effective (merged) SessionTimeoutConfig
            timeout_config TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            last_activity INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            renewal_count INTEGER NOT NULL DEFAULT 0,
            warning_state INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute("CREATE INDEX sessions_expiry ON sessions(expires_at)")


@core()
def m004_text_search(db: Database) -> None:
    """Full-text search (FTS5, unicode61 folding case and diacritics) over the central
    messages and the text of the agents' memories, kept in sync by triggers.

    `central_messages_fts` is an external-content index (`content='central_messages'`, no
    second copy of the text). `memories_fts` stores `json_extract(content, '$.text')` (the
    text is not a column, so it cannot be external content); its rowid is the memory's.
    Both are keyed by the source rowid: after a VACUUM (which may renumber the rowids of
    tables without an INTEGER PRIMARY KEY) run `eliza.store.search.rebuild_indexes`.
    Delete triggers fire on FK cascades; no writer uses INSERT OR REPLACE on these tables
    (REPLACE deletes without firing them unless recursive_triggers is on).
    """
    if dialect_of(db) == "postgresql":
        text_search_postgres(db)
        return
    tokenize = "tokenize = 'unicode61 remove_diacritics 2'"
    db.execute(
        "CREATE VIRTUAL TABLE central_messages_fts USING fts5(content,"
        f" content = 'central_messages', content_rowid = 'rowid', {tokenize})"
    )
    db.execute(
        """CREATE TRIGGER central_messages_fts_ai AFTER INSERT ON central_messages BEGIN
            INSERT INTO central_messages_fts (rowid, content) VALUES (new.rowid, new.content);
        END"""
    )
    db.execute(
        """CREATE TRIGGER central_messages_fts_ad AFTER DELETE ON central_messages BEGIN
            INSERT INTO central_messages_fts (central_messages_fts, rowid, content)
                VALUES ('delete', old.rowid, old.content);
        END"""
    )
    db.execute(
        """CREATE TRIGGER central_messages_fts_au AFTER UPDATE OF content ON central_messages
        BEGIN
            INSERT INTO central_messages_fts (central_messages_fts, rowid, content)
                VALUES ('delete', old.rowid, old.content);
            INSERT INTO central_messages_fts (rowid, content) VALUES (new.rowid, new.content);
        END"""
    )
    db.execute("INSERT INTO central_messages_fts (central_messages_fts) VALUES ('rebuild')")

    db.execute(f"CREATE VIRTUAL TABLE memories_fts USING fts5(text, {tokenize})")
    # Malformed JSON indexes nothing rather than failing the memory's insert.
    text = "CASE WHEN json_valid({0}.content) THEN json_extract({0}.content, '$.text') END"
    db.execute(
        f"""CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN
            INSERT INTO memories_fts (rowid, text) VALUES (new.rowid, {text.format("new")});
        END"""
    )
    db.execute(
        """CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories BEGIN
            DELETE FROM memories_fts WHERE rowid = old.rowid;
        END"""
    )
    db.execute(
        f"""CREATE TRIGGER memories_fts_au AFTER UPDATE OF content ON memories BEGIN
            DELETE FROM memories_fts WHERE rowid = old.rowid;
            INSERT INTO memories_fts (rowid, text) VALUES (new.rowid, {text.format("new")});
        END"""
    )
    db.execute(
        f"INSERT INTO memories_fts (rowid, text) SELECT rowid, {text.format('memories')}"
        " FROM memories"
    )


# The memory columns a vector depends on, compared in an UPDATE trigger.
CHANGED = ("old.content IS NOT new.content OR old.room_id IS NOT new.room_id"
           " OR old.type IS NOT new.type")


@core()
def m005_embedding_queue(db: Database) -> None:
    """The work list of semantic search (`eliza.store.vectors`).

    `embedding_models` names the agents whose memories get embedded, and with what model;
    while an agent has a row there, triggers queue each new or edited memory of it in
    `embedding_queue`, so a memory is never stored without its embedding being owed, even
    when the server stops before the embedding model answers. The vectors themselves live
    in sqlite-vec tables created on first use, one per dimension.
    """
    db.execute(
        """CREATE TABLE embedding_models (
            agent_id TEXT PRIMARY KEY REFERENCES agents(id) ON DELETE CASCADE,
            model TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE embedding_queue (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            memory_id TEXT NOT NULL UNIQUE,
            agent_id TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX embedding_queue_agent ON embedding_queue(agent_id, seq)")
    if dialect_of(db) == "postgresql":
        embedding_triggers_postgres(db)
        return
    # A re-queued memory gets a new seq, so an embedding of its old text is not taken as
    # the embedding of the new one (see vectors.finish).
    enqueue = """INSERT OR REPLACE INTO embedding_queue (memory_id, agent_id)
            SELECT new.id, new.agent_id
            WHERE EXISTS (SELECT 1 FROM embedding_models WHERE agent_id = new.agent_id);"""
    db.execute(f"CREATE TRIGGER embedding_queue_ai AFTER INSERT ON memories BEGIN {enqueue} END")
    # A memory moved to another room or type is re-indexed too: the vector carries both
    # as filters.
    db.execute(
        "CREATE TRIGGER embedding_queue_au AFTER UPDATE OF content, room_id, type ON memories"
        f" WHEN {CHANGED} BEGIN {enqueue} END"
    )
    db.execute(
        """CREATE TRIGGER embedding_queue_ad AFTER DELETE ON memories BEGIN
            DELETE FROM embedding_queue WHERE memory_id = old.id;
        END"""
    )


@core()
def m006_participant_joined_at(db: Database) -> None:
    """When each participant joined its channel (epoch ms; 0 for those from before): an
    agent catching up on start never answers what was said before it was there. The index
    answers the catch-up's "newest memory of this agent" without reading all of them."""
    db.execute(
        "ALTER TABLE channel_participants ADD COLUMN joined_at INTEGER NOT NULL DEFAULT 0"
    )
    db.execute("CREATE INDEX memories_agent_created ON memories(agent_id, created_at)")


@core()
def m007_owed_messages(db: Database) -> None:
    """What each agent owes: a row per (agent, message) it must take in, written in the
    transaction that stores the message and deleted in the one that settles it (stores the
    reply, or takes the message in without answering). An agent's inbox is only a cache of
    this list, so no bus overflow, stop or crash can lose a message it owes. `id` keeps the
    order in which the messages were stored."""
    db.execute(
        """CREATE TABLE owed_messages (
            id INTEGER PRIMARY KEY,
            agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
            message_id TEXT NOT NULL REFERENCES central_messages(id) ON DELETE CASCADE,
            created_at INTEGER NOT NULL,
            UNIQUE (agent_id, message_id)
        )"""
    )
    db.execute("CREATE INDEX owed_messages_agent ON owed_messages(agent_id, id)")
    db.execute("CREATE INDEX owed_messages_message ON owed_messages(message_id)")


@core()
def m008_deployment(db: Database) -> None:
    """What the workers of one deployment share beyond the conversations.

    `leases`: who runs each agent (name `agent:<id>`) or periodic job (`job:<name>`), until
    when, and the epoch (fencing token) bumped on every change of holder, which an agent's
    reply transaction checks. `workers`: the live workers, their internal address (where
    another worker carries a request for a session or an agent they hold) and heartbeat.
    `rate_usage`: each worker's hits per rate-limit key and window, summed by every worker
    when it reconciles. `bus_payloads`: events too large for a PostgreSQL notification,
    sent as a reference to their row. The index on messages' times answers a worker
    catching up on what the bus may have missed during an outage."""
    db.execute(
        """CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            released INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute(
        """CREATE TABLE workers (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            internal_url TEXT NOT NULL,
            started_at INTEGER NOT NULL,
            seen_at INTEGER NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE rate_usage (
            limiter TEXT NOT NULL,
            client TEXT NOT NULL,
            window_start INTEGER NOT NULL,
            worker TEXT NOT NULL,
            hits INTEGER NOT NULL,
            PRIMARY KEY (limiter, client, window_start, worker)
        )"""
    )
    db.execute("CREATE INDEX rate_usage_window ON rate_usage(window_start)")
    db.execute("CREATE INDEX central_messages_created ON central_messages(created_at)")
    db.execute(
        """CREATE TABLE bus_payloads (
            id INTEGER PRIMARY KEY,
            body TEXT NOT NULL,
            created_at INTEGER NOT NULL
        )"""
    )


# The Jobs API's table; its DDL lives beside its queries (eliza/store/jobs.py).
core(name="m009_jobs")(create_jobs_table)

# PostgreSQL's faster folding; nothing to change on SQLite (eliza/store/pg_schema.py).
core(name="m010_fast_ascii_folding")(fast_ascii_folding)
