"""An ad-hoc class plugin implementing every hook, for in-process tests (STYLE 15a)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio
from sqlite_utils.migrations import Migrations

from eliza import (
    BusListener,
    Event,
    ModelType,
    NotFound,
    Panel,
    RequiredSetting,
    Route,
    hookimpl,
)

if TYPE_CHECKING:
    from quart import Request

    from eliza.runtime.agent import AgentRuntime
    from eliza.server import AgentServer

NAME = "adhoc"


@dataclass(eq=False)  # pluggy tells plugins apart by equality
class AdHocPlugin:
    seen: list[dict[str, Any]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    # -- route handlers --------------------------------------------------------------

    async def echo(self, request: Request, runtime: AgentRuntime) -> Any:
        return {"agentId": runtime.agent_id, "params": request.view_args,
                "query": dict(request.args)}

    async def create(self, request: Request, runtime: AgentRuntime) -> Any:
        return {"got": await request.get_json()}, 201

    async def boom(self, request: Request, runtime: AgentRuntime) -> Any:
        raise RuntimeError("adhoc route exploded on purpose")

    async def missing(self, request: Request, runtime: AgentRuntime) -> Any:
        raise NotFound("no such widget", code="WIDGET_NOT_FOUND")

    async def hang(self, request: Request, runtime: AgentRuntime) -> Any:
        await trio.sleep_forever()

    async def nothing(self, request: Request, runtime: AgentRuntime) -> Any:
        return None  # not a valid response: the plugin's bug

    async def page(self, request: Request, runtime: AgentRuntime) -> Any:
        return "<h1>adhoc page</h1>"

    # -- bus listener ----------------------------------------------------------------

    async def on_message(self, event: Event) -> None:
        message = event.to_dict()["message"]
        if message.get("content") == "explode":
            raise ValueError("listener exploded on purpose")
        self.seen.append(message)

    async def reply(self, runtime: AgentRuntime, params: dict[str, Any]) -> str:
        return f"adhoc says {params.get('prompt')}"

    # -- hooks -----------------------------------------------------------------------

    @hookimpl
    def register_migrations(self, server: AgentServer) -> list[Migrations]:
        migrations = Migrations(NAME)

        @migrations()
        def m001_widgets(db: Any) -> None:
            db["adhoc_widgets"].create({"id": int, "name": str}, pk="id")

        return [migrations]

    @hookimpl
    def register_models(self, server: AgentServer) -> dict[ModelType, Any]:
        return {ModelType.TEXT_SMALL: self.reply}

    @hookimpl
    def register_routes(self, server: AgentServer) -> list[Route]:
        return [
            Route("GET", "/echo/<thing>", self.echo),
            Route("GET", "/files/:folder/*", self.echo),  # ElizaOS syntax
            Route("POST", "/widgets", self.create),
            Route("GET", "/boom", self.boom),
            Route("GET", "/missing", self.missing),
            Route("GET", "/hang", self.hang),
            Route("GET", "/nothing", self.nothing),
            Route("GET", "/page", self.page, public=True, name="AdHoc page"),
            Route("GET", "/hidden", self.page, public=False, name="Not a panel"),
        ]

    @hookimpl
    def register_panels(self, server: AgentServer) -> list[Panel]:
        return [Panel("Inline", html="<p>inline panel</p>"), Panel("By path", path="/page")]

    @hookimpl
    async def register_bus_listeners(self, server: AgentServer) -> list[BusListener]:
        # An awaitable result is awaited by the server (hooks may return either).
        return [BusListener(["new_message"], self.on_message, name="collector")]

    @hookimpl
    def required_settings(self, server: AgentServer) -> list[RequiredSetting]:
        # Requires nothing, so the other tests' agents start bare (test_required_settings.py
        # has a plugin that requires some).
        return []

    @hookimpl
    def startup(self, server: AgentServer) -> None:
        self.started.append(type(server.nursery).__name__)

    @hookimpl
    async def shutdown(self, server: AgentServer) -> None:
        self.stopped.append("bye")
