"""`/api/memory/groups`: the group memory spaces listed and created, and a group's memories.

A group is a message server: its id is the server's id, and each agent taking part has
its own world and room for it (see `POST /api/memory/groups/:serverId` in `memory`). These
routes read the store, so they answer for stopped agents' memories too.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from .. import ids
from ..clock import now_ms
from ..memory import insights
from .common import json_body, ok, query_int, server
from .contract import Cursor, declare
from .inputs import Integer, Obj, Text, Uuid
from .memory import GROUP, GROUP_FAILED, GROUP_PARTIAL, create_group_rooms, group_answer
from .messaging_common import parse_cursor

bp = Blueprint("memory_group_spaces", __name__, url_prefix="/api/memory/groups")


@bp.get("")
@declare("List the group memory spaces (one per message server)", tags="memory",
         query={"limit": Integer(clamp=(1, 1000))})
async def list_groups() -> Any:
    groups = await insights.list_groups(server().store, query_int("limit", 100, lo=1, hi=1000))
    return ok({"groups": groups})


@bp.post("")
@declare("Create a group memory space (a room per agent) under a new or given id",
         tags="memory", status=201,
         body=Obj(fields={**GROUP, "groupId": Uuid(nullable=True)}), others=GROUP_PARTIAL,
         errors=GROUP_FAILED)
async def create_group() -> Any:
    body = await json_body()
    group_id = body.get("groupId") or ids.new_uuid()
    rooms, errors, failed = await create_group_rooms(group_id, body)
    name = rooms[0]["name"] if rooms else body.get("name")
    return group_answer({"id": group_id, "name": name, "rooms": rooms}, errors, bool(rooms),
                        failed)


@bp.get("/<server_id>/memories")
@declare("List a group's memories (every agent's), newest first", tags="memory", query={
    "limit": Integer(clamp=(1, 1000)), "before": Cursor(), "tableName": Text(max_chars=100),
    "type": Text(max_chars=100)})
async def group_memories(server_id: str) -> Any:
    before = parse_cursor("before")
    memories = await insights.group_memories(
        server().store, server_id,
        table=request.args.get("tableName") or request.args.get("type") or None,
        before=now_ms() + 1 if before is None else before,
        limit=query_int("limit", 50, lo=1, hi=1000))
    return ok({"groupId": server_id, "memories": memories})
