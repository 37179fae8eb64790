"""The client side of the `eliza` command: `chat`, `agents ...` and `logs`, all through the
SDK against a running server (`--url`, default `$ELIZA_URL` or http://127.0.0.1:3000;
`--api-key`, default `$ELIZA_SERVER_AUTH_TOKEN`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import trio

from .errors import ElizaApiError, RealtimeError
from .realtime import RealtimeClient, open_realtime
from .rest import ElizaClient, default_url

COMMANDS = ("chat", "agents", "logs")
TURN_WAIT = 60.0  # how long `chat` waits for the agent before taking the next line
LEVEL_NAMES = {60: "FATAL", 50: "ERROR", 40: "WARN", 30: "INFO", 29: "LOG", 28: "PROGRESS",
               27: "SUCCESS", 20: "DEBUG", 10: "TRACE"}


def add_parsers(commands: Any) -> None:
    """Add `chat`, `agents` and `logs` to the `eliza` subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=None,
                        help="server URL (default $ELIZA_URL or http://127.0.0.1:3000)")
    common.add_argument("--api-key", default=None,
                        help="API key (default $ELIZA_SERVER_AUTH_TOKEN)")
    chat = commands.add_parser("chat", parents=[common], help="chat with an agent")
    chat.add_argument("agent", nargs="?", help="agent name or id (default: first active)")
    agents = commands.add_parser("agents", help="list and manage agents")
    actions = agents.add_subparsers(dest="agents_command", required=True)
    listing = actions.add_parser("list", parents=[common], help="list agents")
    listing.add_argument("--json", action="store_true", help="print JSON")
    for name, what in (("start", "start an agent"), ("stop", "stop an agent"),
                       ("delete", "delete an agent")):
        action = actions.add_parser(name, parents=[common], help=what)
        action.add_argument("name", help="agent name or id")
    create = actions.add_parser("create", parents=[common], help="create an agent")
    create.add_argument("file", type=Path, help="character JSON file")
    logs = commands.add_parser("logs", parents=[common], help="show (and follow) server logs")
    logs.add_argument("--follow", "-f", action="store_true", help="stream new entries")
    logs.add_argument("--level", default=None, help="minimum level name (info, warn, ...)")
    logs.add_argument("--agent", default=None, help="only this agent's entries (by name)")
    logs.add_argument("--limit", type=int, default=50, help="recent entries to show")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run a client subcommand; returns the exit status."""
    out = out or sys.stdout
    url = args.url or default_url()
    api_key = args.api_key or os.environ.get("ELIZA_SERVER_AUTH_TOKEN") or None
    jobs: dict[str, Callable[[], Awaitable[int]]] = {
        "chat": lambda: chat(url, api_key, args.agent, out),
        "agents": lambda: agents_command(url, api_key, args, out),
        "logs": lambda: logs_command(url, api_key, args, out),
    }
    try:
        return trio.run(jobs[args.command])
    except ElizaApiError as exc:
        print(f"eliza: {exc}", file=sys.stderr)
        return 1
    except RealtimeError as exc:
        print(f"eliza: realtime: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# -- chat ---------------------------------------------------------------------------------


class _Chat:
    """Prints what arrives for one channel; tells the input loop when a turn is over."""

    def __init__(self, rt: RealtimeClient, channel_id: str, agent_name: str,
                 out: TextIO) -> None:
        self.rt = rt
        self.channel_id = channel_id
        self.agent_name = agent_name
        self.out = out
        self.turn_over = trio.Event()
        self.streamed: set[str] = set()

    def say(self, text: str, end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    async def print_events(self) -> None:
        async for event in self.rt.events():
            data = event.data if isinstance(event.data, dict) else {}
            if event.name == "disconnect":
                print("(connection lost, reconnecting ...)", file=sys.stderr)
            elif event.name == "connect" and self.rt.reconnects:
                print("(reconnected)", file=sys.stderr)
            elif data.get("channelId", data.get("roomId")) != self.channel_id:
                continue
            elif event.name == "messageStreamChunk":
                if data.get("messageId") not in self.streamed:
                    self.streamed.add(str(data.get("messageId")))
                    self.say(f"{self.agent_name}: ", end="")
                self.say(str(data.get("chunk") or ""), end="")
            elif event.name == "messageBroadcast" and data.get("senderId") != self.rt.entity_id:
                if data.get("id") in self.streamed:
                    self.say("")
                else:
                    self.say(f"{data.get('senderName') or self.agent_name}: {data.get('text', '')}")
            elif event.name in ("messageComplete", "messageError"):
                if event.name == "messageError":
                    print(f"(error: {data.get('error')})", file=sys.stderr)
                self.turn_over.set()


async def chat(url: str, api_key: str | None, agent_name: str | None, out: TextIO) -> int:
    async with ElizaClient(url, api_key=api_key) as client:
        agent = await client.agents.find(agent_name)
        async with open_realtime(url, api_key=api_key) as rt:
            channel = await client.messaging.dm_channel(rt.entity_id, agent["id"])
            await rt.join(channel["id"], agent_id=agent["id"])
            session = _Chat(rt, channel["id"], agent["name"], out)
            interactive = sys.stdin.isatty()
            session.say(f"Chatting with {agent['name']}. Type /quit to leave.")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(session.print_events)
                while True:
                    if interactive:
                        session.say("> ", end="")
                    line = await trio.to_thread.run_sync(sys.stdin.readline,
                                                         abandon_on_cancel=True)
                    text = line.strip()
                    if not line or text in ("/quit", "/exit"):
                        break
                    if not text:
                        continue
                    session.turn_over = trio.Event()
                    await rt.send(channel["id"], text, server_id=channel.get(
                        "messageServerId") or "00000000-0000-0000-0000-000000000000",
                        source="eliza_cli")
                    with trio.move_on_after(TURN_WAIT):
                        await session.turn_over.wait()
                nursery.cancel_scope.cancel()
    return 0


# -- agents -------------------------------------------------------------------------------


async def agents_command(url: str, api_key: str | None, args: argparse.Namespace,
                         out: TextIO) -> int:
    action = args.agents_command
    async with ElizaClient(url, api_key=api_key) as client:
        if action == "list":
            agents = await client.agents.list()
            if args.json:
                out.write(json.dumps(agents, indent=2) + "\n")
                return 0
            width = max([len(a["name"]) for a in agents] + [4])
            out.write(f"{'NAME':<{width}}  {'STATUS':<8}  ID\n")
            for a in agents:
                out.write(f"{a['name']:<{width}}  {a['status']:<8}  {a['id']}\n")
            return 0
        if action == "create":
            character = json.loads(await trio.Path(args.file).read_text(encoding="utf-8"))
            created = await client.agents.create(character)
            out.write(f"created {created['character'].get('name')} {created['id']}\n")
            return 0
        agent = await client.agents.find(args.name)
        if action == "start":
            await client.agents.start(agent["id"])
            out.write(f"started {agent['name']} {agent['id']}\n")
        elif action == "stop":
            await client.agents.stop(agent["id"])
            out.write(f"stopped {agent['name']} {agent['id']}\n")
        elif action == "delete":
            await client.agents.delete(agent["id"])
            out.write(f"deleted {agent['name']} {agent['id']}\n")
    return 0


# -- logs ---------------------------------------------------------------------------------


def format_log(entry: dict[str, Any]) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(int(entry.get("time") or 0) / 1000))
    level = LEVEL_NAMES.get(int(entry.get("level") or 30), str(entry.get("level")))
    agent = f" [{entry['agentName']}]" if entry.get("agentName") else ""
    return f"{stamp} {level:<5}{agent} {entry.get('msg', '')}"


async def logs_command(url: str, api_key: str | None, args: argparse.Namespace,
                       out: TextIO) -> int:
    async with ElizaClient(url, api_key=api_key) as client:
        page = await client.server.logs(agent_name=args.agent, limit=args.limit)
    for entry in page.get("logs", []):
        out.write(format_log(dict(entry)) + "\n")
    out.flush()
    if not args.follow:
        return 0
    async with open_realtime(url, api_key=api_key) as rt:
        await rt.subscribe_logs(agent_name=args.agent, level=args.level)
        print("(following; Ctrl-C to stop)", file=sys.stderr)
        async for event in rt.events():
            if event.name == "log_stream" and isinstance(event.data, dict):
                out.write(format_log(dict(event.data.get("payload") or {})) + "\n")
                out.flush()
    return 0
