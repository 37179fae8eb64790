"""The core tables, as a named migration set (plugins that own tables bring their own set).

Tables follow the ElizaOS data model (reference §8). Timestamps are epoch milliseconds;
JSON documents are stored as TEXT.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from ..ids import DEFAULT_SERVER_ID
from ..logs import now_ms

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
