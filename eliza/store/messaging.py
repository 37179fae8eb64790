"""Queries for the central messaging tables: channels, their participants and messages.

Every function takes a `Transaction` first and runs synchronously; callers go
through `Store.read` / `Store.write` (a write runs in one transaction). Rows come back as
plain dicts with JSON columns decoded; `eliza.messaging.shapes` turns them into API shapes.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from ..clock import now_ms
from .protocols import Transaction

_JSON_CHANNEL = ("metadata",)
# Named, not `*`: PostgreSQL's table also holds the text-search vector of each message.
MESSAGE_COLUMNS = ("id, channel_id, author_id, content, raw_message,"
                   " in_reply_to_root_message_id, source_type, source_id, metadata,"
                   " idempotency_key, created_at, updated_at")
_JSON_MESSAGE = ("raw_message", "metadata")


def _loads(value: Any) -> Any:
    if value is None or value == "":
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value  # stored by an older writer as plain text: keep it readable


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _decode(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out = dict(row)
    for key in keys:
        out[key] = _loads(out.get(key))
    return out


# -- channels ------------------------------------------------------------------------------


def insert_channel(db: Transaction, channel: dict[str, Any], participants: list[str]) -> None:
    """Insert a channel and its participants together, as ElizaOS's `createChannel` does."""
    row = dict(channel)
    row["metadata"] = _dumps(row.get("metadata"))
    db.insert("channels", row)
    add_participants(db, channel["id"], participants)


def get_channel(db: Transaction, channel_id: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM channels WHERE id = ?", [channel_id]))
    return _decode(rows[0], _JSON_CHANNEL) if rows else None


def channels_for_server(db: Transaction, server_id: str) -> list[dict[str, Any]]:
    return [
        _decode(r, _JSON_CHANNEL)
        for r in db.query(
            "SELECT * FROM channels WHERE message_server_id = ? ORDER BY created_at", [server_id]
        )
    ]


def find_dm_channel(db: Transaction, server_id: str, name: str) -> dict[str, Any] | None:
    rows = list(db.query(
        "SELECT * FROM channels WHERE message_server_id = ? AND type = 'DM' AND name = ?"
        " ORDER BY created_at LIMIT 1",
        [server_id, name],
    ))
    return _decode(rows[0], _JSON_CHANNEL) if rows else None


def update_channel(
    db: Transaction,
    channel_id: str,
    *,
    name: str | None,
    metadata: Any,
    set_metadata: bool,
    participants: list[str] | None,
    now: int,
) -> dict[str, Any] | None:
    """Patch a channel: a given name replaces, metadata replaces (as ElizaOS does), a given
    participant list replaces the whole list. Returns the new row, or None if missing."""
    if get_channel(db, channel_id) is None:
        return None
    fields: dict[str, Any] = {"updated_at": now}
    if name is not None:
        fields["name"] = name
    if set_metadata:
        fields["metadata"] = _dumps(metadata)
    db.update("channels", channel_id, fields)
    if participants is not None:
        db.execute("DELETE FROM channel_participants WHERE channel_id = ?", [channel_id])
        add_participants(db, channel_id, participants)
    return get_channel(db, channel_id)


def delete_channel(db: Transaction, channel_id: str) -> bool:
    """Delete the channel; its messages and participants go with it (ON DELETE CASCADE)."""
    return bool(db.execute("DELETE FROM channels WHERE id = ?", [channel_id]).rowcount)


def participants(db: Transaction, channel_id: str) -> list[str]:
    return [
        r["user_id"]
        for r in db.query(
            "SELECT user_id FROM channel_participants WHERE channel_id = ? ORDER BY rowid",
            [channel_id],
        )
    ]


def add_participants(db: Transaction, channel_id: str, user_ids: list[str]) -> None:
    joined = now_ms()
    db.executemany(
        "INSERT INTO channel_participants (channel_id, user_id, joined_at)"
        " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [(channel_id, u, joined) for u in dict.fromkeys(user_ids)],
    )


def remove_participant(db: Transaction, channel_id: str, user_id: str) -> bool:
    return bool(db.execute(
        "DELETE FROM channel_participants WHERE channel_id = ? AND user_id = ?",
        [channel_id, user_id],
    ).rowcount)


def agent_view(
    db: Transaction, channel_id: str, agent_id: str, server_id: str
) -> tuple[dict[str, Any] | None, bool, bool]:
    """What an agent's turn needs in one read: the channel, whether the agent participates
    in it, and whether it is subscribed to the message server (an agent answers only
    when both hold)."""
    channel = get_channel(db, channel_id)
    if channel is None:
        return None, False, False
    member = bool(list(db.query(
        "SELECT 1 FROM channel_participants WHERE channel_id = ? AND user_id = ?",
        [channel_id, agent_id],
    )))
    subscribed = bool(list(db.query(
        "SELECT 1 FROM server_agents WHERE server_id = ? AND agent_id = ?", [server_id, agent_id]
    )))
    return channel, member, subscribed


def takes_part(db: Transaction, channel_id: str, agent_id: str, server_id: str) -> bool:
    """Whether the agent participates in the channel and is subscribed to the message
    server: `agent_view`'s two checks, without the channel row."""
    return bool(list(db.query(
        "SELECT 1 FROM channel_participants cp, server_agents sa"
        " WHERE cp.channel_id = ? AND cp.user_id = ? AND sa.server_id = ? AND sa.agent_id = ?",
        [channel_id, agent_id, server_id, agent_id],
    )))


def channel_agents(
    db: Transaction, channel_id: str, server_id: str, candidates: Collection[str]
) -> list[str]:
    """The `candidates` (agent ids; the running agents) that take part in the channel as
    `agent_view` sees it: participants, and subscribed to the message server. Costs
    O(min(participants, candidates)) index probes: a channel's few participants are checked
    against the agents, or the few agents against a channel of many participants."""
    wanted = candidates if isinstance(candidates, set | frozenset) else set(candidates)
    if not wanted:
        return []
    few = [r["user_id"] for r in db.query(
        "SELECT user_id FROM channel_participants WHERE channel_id = ? LIMIT ?",
        [channel_id, len(wanted) + 1],
    )]
    if len(few) <= len(wanted):
        found = [u for u in few if u in wanted]
    else:
        found = []
        ordered = sorted(wanted)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found += [r["user_id"] for r in db.query(
                "SELECT user_id FROM channel_participants"
                f" WHERE channel_id = ? AND user_id IN ({marks})", [channel_id, *chunk])]
    if not found:
        return []
    subscribed: set[str] = set()
    for start in range(0, len(found), _CHUNK):
        chunk = found[start:start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        subscribed.update(r["agent_id"] for r in db.query(
            f"SELECT agent_id FROM server_agents WHERE server_id = ? AND agent_id IN ({marks})",
            [server_id, *chunk]))
    return [a for a in found if a in subscribed]


_CHUNK = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit


# -- messages ------------------------------------------------------------------------------


def find_by_key(db: Transaction, channel_id: str, key: str) -> dict[str, Any] | None:
    rows = list(db.query(
        f"SELECT {MESSAGE_COLUMNS} FROM central_messages"
        " WHERE channel_id = ? AND idempotency_key = ?",
        [channel_id, key],
    ))
    return _decode(rows[0], _JSON_MESSAGE) if rows else None


def insert_message(db: Transaction, message: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Insert a message unless its idempotency key (or id) is already stored in the channel.
    Runs inside the writer's transaction, so check-then-insert cannot race another writer.
    Returns (row, created).

    A channel's messages get distinct, increasing `created_at` (a message of the same
    millisecond as the channel's newest is stamped one past it): the listing's `before` /
    `after` cursors are exclusive milliseconds, so two messages sharing one would let a page
    boundary skip the second. The lock makes that hold across connections too."""
    db.lock(f"channel-order:{message['channel_id']}")
    key = message.get("idempotency_key")
    if key:
        existing = find_by_key(db, message["channel_id"], key)
        if existing is not None:
            return existing, False
    existing = get_message(db, message["id"])
    if existing is not None:
        return existing, False
    row = dict(message)
    newest = db.execute("SELECT max(created_at) FROM central_messages WHERE channel_id = ?",
                        [row["channel_id"]]).fetchone()
    if newest is not None and newest[0] is not None and row["created_at"] <= newest[0]:
        row["created_at"] = row["updated_at"] = int(newest[0]) + 1
    for column in _JSON_MESSAGE:
        row[column] = _dumps(row.get(column))
    # A plain INSERT: sqlite-utils' `Table.insert` costs more than the statement itself.
    columns = ", ".join(f'"{c}"' for c in row)
    db.execute(f"INSERT INTO central_messages ({columns}) VALUES"
               f" ({', '.join('?' for _ in row)})", list(row.values()))
    return _decode(row, _JSON_MESSAGE), True


def messages_since(db: Transaction, since: int, limit: int
                   ) -> list[tuple[dict[str, Any], str]]:
    """Messages stored from `since` (epoch ms) on, oldest first, each with its channel's
    message server id."""
    rows = db.query(
        f"""SELECT {', '.join('m.' + c.strip() for c in MESSAGE_COLUMNS.split(','))},
                   c.message_server_id AS _server
            FROM central_messages m JOIN channels c ON c.id = m.channel_id
            WHERE m.created_at >= ? ORDER BY m.created_at, m.rowid LIMIT ?""",
        [since, limit])
    out = []
    for row in rows:
        server = str(row.pop("_server"))
        out.append((_decode(row, _JSON_MESSAGE), server))
    return out


def get_message(db: Transaction, message_id: str) -> dict[str, Any] | None:
    rows = list(db.query(f"SELECT {MESSAGE_COLUMNS} FROM central_messages WHERE id = ?",
                         [message_id]))
    return _decode(rows[0], _JSON_MESSAGE) if rows else None


def update_message(
    db: Transaction, message_id: str, patch: dict[str, Any], now: int
) -> dict[str, Any] | None:
    """Patch with `??` semantics: None keeps the old value, as ElizaOS's adapter does."""
    fields: dict[str, Any] = {}
    for column, value in patch.items():
        if value is None:
            continue
        fields[column] = _dumps(value) if column in _JSON_MESSAGE else value
    if get_message(db, message_id) is None:
        return None
    parent = fields.get("in_reply_to_root_message_id")
    if parent is not None and get_message(db, parent) is None:
        del fields["in_reply_to_root_message_id"]  # unknown parent: kept, as a post keeps it
    fields["updated_at"] = now
    db.update("central_messages", message_id, fields)
    return get_message(db, message_id)


def _channel_bounds(channel_id: str, before: int | None, after: int | None
                    ) -> tuple[list[str], list[Any]]:
    """The WHERE terms (and their arguments) of a channel listing between exclusive bounds."""
    where = ["channel_id = ?"]
    args: list[Any] = [channel_id]
    if before is not None:
        where.append("created_at < ?")
        args.append(before)
    if after is not None:
        where.append("created_at > ?")
        args.append(after)
    return where, args


def messages_for_channel(
    db: Transaction,
    channel_id: str,
    *,
    limit: int,
    before: int | None = None,
    after: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first; `before`/`after` are exclusive epoch-ms bounds. With only `after`,
    the page is the `limit` messages right after the cursor (paging forward), still
    answered newest first."""
    where, args = _channel_bounds(channel_id, before, after)
    args.append(limit)
    forward = after is not None and before is None
    order = "ASC" if forward else "DESC"
    sql = (
        f"SELECT {MESSAGE_COLUMNS} FROM central_messages WHERE {' AND '.join(where)}"
        f" ORDER BY created_at {order}, rowid {order} LIMIT ?"
    )
    rows = [_decode(r, _JSON_MESSAGE) for r in db.query(sql, args)]
    if forward:
        rows.reverse()
    return rows


# A page of a listing stops once its rows hold this much text (at least one row is read).
PAGE_BYTES = 256 * 1024
Key = tuple[int, int]  # (created_at, rowid): where a newest-first listing goes on


def forward_page_end(db: Transaction, channel_id: str, after: int, limit: int) -> Key | None:
    """For `messages_for_channel` with only `after`: the key just past the `limit`-th message
    after the cursor (what a newest-first `message_page` starts below), or None when fewer
    messages follow it."""
    rows = list(db.query(
        "SELECT created_at, rowid AS r FROM central_messages WHERE channel_id = ?"
        " AND created_at > ? ORDER BY created_at, rowid LIMIT 1 OFFSET ?",
        [channel_id, after, limit - 1],
    ))
    return (rows[0]["created_at"], rows[0]["r"] + 1) if rows else None


def message_page(
    db: Transaction,
    channel_id: str,
    *,
    count: int,
    before: int | None = None,
    after: int | None = None,
    below: Key | None = None,
    max_bytes: int = PAGE_BYTES,
) -> tuple[list[dict[str, Any]], Key | None]:
    """One page of `messages_for_channel` (newest first, `before`/`after` exclusive epoch-ms
    bounds) of at most `count` rows, below the key `below`; it stops early once its rows
    hold `max_bytes` of text. Returns the rows and the key to read the next page below, or
    None when no row is left within the bounds."""
    where, args = _channel_bounds(channel_id, before, after)
    if below is not None:
        where.append("(created_at, rowid) < (?, ?)")
        args.extend(below)
    args.append(count)
    rows: list[dict[str, Any]] = []
    size = 0
    key: Key | None = None
    # Rows past the budget are never fetched.
    for row in db.stream(
        f"SELECT rowid AS _rowid, {MESSAGE_COLUMNS} FROM central_messages"
        f" WHERE {' AND '.join(where)}"
        " ORDER BY created_at DESC, rowid DESC LIMIT ?", args,
    ):
        key = (row["created_at"], row.pop("_rowid"))
        size += sum(len(row[k] or "") for k in ("content", "raw_message", "metadata"))
        rows.append(_decode(row, _JSON_MESSAGE))
        if size >= max_bytes:
            break
    more = size >= max_bytes or len(rows) == count  # else the query ran out of rows
    return rows, key if more else None


def find_reply(db: Transaction, channel_id: str, message_id: str) -> dict[str, Any] | None:
    rows = list(db.query(
        f"SELECT {MESSAGE_COLUMNS} FROM central_messages"
        " WHERE channel_id = ? AND in_reply_to_root_message_id = ?"
        " ORDER BY created_at, rowid LIMIT 1",
        [channel_id, message_id],
    ))
    return _decode(rows[0], _JSON_MESSAGE) if rows else None


def delete_message(db: Transaction, message_id: str) -> bool:
    return bool(db.execute("DELETE FROM central_messages WHERE id = ?", [message_id]).rowcount)


def clear_channel(db: Transaction, channel_id: str) -> int:
    """Delete every message of the channel (ElizaOS deleted only the latest 1000)."""
    return int(db.execute(
        "DELETE FROM central_messages WHERE channel_id = ?", [channel_id]
    ).rowcount)


def count_messages(db: Transaction, channel_id: str) -> int:
    rows = list(db.query(
        "SELECT COUNT(*) AS n FROM central_messages WHERE channel_id = ?", [channel_id]
    ))
    return int(rows[0]["n"])

