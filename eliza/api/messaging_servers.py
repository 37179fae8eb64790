"""Message servers: `/api/messaging/message-servers*` with the 1.7 keys (`messageServers`,
`messageServerId`), and `/central-servers*`, `/servers*` with the 1.5 keys (`servers`,
`serverId`). One set of handlers; the blueprint is registered once per dialect."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from .. import ids
from .common import json_body, no_content, ok, server, uuid_param
from .contract import declare
from .inputs import NAME, Array, Obj, Text, Uuid, first

SHORT = Text(max_chars=200)
CREATE = Obj(fields={"name": NAME, "sourceType": SHORT, "source_type": SHORT,
                     "sourceId": SHORT, "source_id": SHORT, "metadata": Obj(nullable=True),
                     "id": Uuid(nullable=True)})
# Each entry is checked up front, so a bad one creates no channel at all.
SYNC = Array(items=Obj(fields={"name": NAME, "type": Text(max_chars=20),
                               "metadata": Obj(nullable=True), "id": Text(max_chars=100)}))

V17 = "message-servers"


def _v17(prefix: str) -> bool:
    return prefix == V17


def make_blueprint(prefix: str, name: str) -> Blueprint:
    """Routes under `/api/messaging/<prefix>`, answering in that prefix's dialect."""
    bp = Blueprint(name, __name__, url_prefix=f"/api/messaging/{prefix}")
    server_key = "messageServerId" if _v17(prefix) else "serverId"

    @bp.get("")
    @declare("List message servers", tags="message servers")
    async def list_servers() -> Any:
        servers = await server().messaging.list_servers()
        return ok({"messageServers": servers} if _v17(prefix) else {"servers": servers})

    @bp.post("")
    @declare("Create a message server", tags="message servers", status=201, body=CREATE)
    async def create_server() -> Any:
        body = await json_body()
        created = await server().messaging.create_server(
            name=NAME.check(body["name"], "name") if body.get("name") else "",
            source_type=first(body, SHORT, "sourceType", "source_type") or "",
            source_id=first(body, SHORT, "sourceId", "source_id"),
            metadata=Obj(nullable=True).check(body.get("metadata"), "metadata"),
            server_id=Uuid(nullable=True).check(body.get("id"), "id"),
        )
        return ok({"server": created}, 201)

    @bp.get("/<server_id>")
    @declare("One message server (404 when unknown)", tags="message servers")
    async def get_server(server_id: str) -> Any:
        return ok({"server": await server().messaging.get_server(server_id)})

    @bp.delete("/<server_id>")
    @declare("Delete a message server", tags="message servers", status=204)
    async def delete_server(server_id: str) -> Any:
        await server().messaging.delete_server(uuid_param(server_id, "server"))
        return no_content()

    @bp.get("/<server_id>/channels")
    @declare("List a message server's channels", tags="message servers")
    async def server_channels(server_id: str) -> Any:
        channels = await server().messaging.list_channels(uuid_param(server_id, "server"))
        return ok({"channels": channels})

    @bp.get("/<server_id>/agents")
    @declare("List a message server's agents", tags="message servers")
    async def server_agents(server_id: str) -> Any:
        server_id = uuid_param(server_id, "server")
        agents = await server().messaging.server_agents(server_id)
        return ok({server_key: server_id, "agents": agents})

    @bp.post("/<server_id>/agents")
    @declare("Add an agent to a message server", tags="message servers", status=201,
             body=Obj(fields={"agentId": Uuid()}))
    async def add_agent(server_id: str) -> Any:
        server_id = uuid_param(server_id, "server")
        body = await json_body()
        agent_id = Uuid().check(body.get("agentId") or "", "agentId")
        await server().messaging.add_agent_to_server(server_id, agent_id)
        return ok({server_key: server_id, "agentId": agent_id,
                   "message": "Agent added to server successfully"}, 201)

    @bp.delete("/<server_id>/agents/<agent_id>")
    @declare("Remove an agent from a message server", tags="message servers")
    async def remove_agent(server_id: str, agent_id: str) -> Any:
        server_id = uuid_param(server_id, "server")
        agent_id = uuid_param(agent_id, "agent")
        await server().messaging.remove_agent_from_server(server_id, agent_id)
        return ok({server_key: server_id, "agentId": agent_id,
                   "message": "Agent removed from server successfully"})

    return bp


blueprints = [
    make_blueprint(V17, "message_servers"),
    make_blueprint("central-servers", "central_servers"),
    make_blueprint("servers", "servers_v15"),
]

# Routes outside the per-dialect prefixes.
extra = Blueprint("messaging_server_extra", __name__, url_prefix="/api/messaging")


@extra.get("/message-server/current")
@declare("The message server of this process", tags="message servers")
async def current_server() -> Any:
    # One process serves one message server: the default one.
    return ok({"messageServerId": ids.DEFAULT_SERVER_ID})


@extra.get("/agents/<agent_id>/message-servers")
@declare("The message servers an agent is in", tags="message servers")
async def agent_message_servers(agent_id: str) -> Any:
    agent_id = uuid_param(agent_id)
    return ok({"agentId": agent_id,
               "messageServers": await server().messaging.agent_servers(agent_id)})


@extra.get("/agents/<agent_id>/servers")
@declare("The message servers an agent is in (1.5 keys)", tags="message servers")
async def agent_servers(agent_id: str) -> Any:
    agent_id = uuid_param(agent_id)
    return ok({"agentId": agent_id, "servers": await server().messaging.agent_servers(agent_id)})


@extra.post("/message-servers/<server_id>/sync-channels")
@declare("Create the channels an outside platform lists", tags="message servers",
         body=Obj(fields={"channels": SYNC}))
async def sync_channels(server_id: str) -> Any:
    """External platforms push their channel list; channels that are not yet known are
    created (by id when given)."""
    server_id = uuid_param(server_id, "server")
    body = await json_body()
    channels = SYNC.check(body.get("channels") or [], "channels")
    known = {c["id"] for c in await server().messaging.list_channels(server_id)}
    created = 0
    for entry in channels:
        if not isinstance(entry, dict) or entry.get("id") in known:
            continue
        await server().messaging.create_channel(
            name=entry.get("name") or "channel", message_server_id=server_id,
            type=entry.get("type") or "GROUP", metadata=entry.get("metadata"),
            channel_id=ids.validate_uuid(entry.get("id")),
        )
        created += 1
    return ok({"messageServerId": server_id, "created": created})

