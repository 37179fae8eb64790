"""Every plugin hook, typed and documented.

Hooks are called synchronously (pluggy is synchronous). An implementation may return its
value directly or an awaitable that produces it; the server awaits awaitables. Every hook
takes one argument, `server` (the :class:`~eliza.server.AgentServer`); pluggy rejects
implementations whose parameter names do not appear in the spec.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from sqlite_utils.migrations import Migrations

    from .plugin_api import BusListener, Panel, Route
    from .runtime.models import ModelProvider, ModelType
    from .server import AgentServer

hookspec = pluggy.HookspecMarker("eliza")
hookimpl = pluggy.HookimplMarker("eliza")


# ---------------------------------------------------------------------------------------
# Startup: called once per server, in this order, before the server accepts requests.
# ---------------------------------------------------------------------------------------


@hookspec
def register_migrations(server: AgentServer) -> list[Migrations] | None:
    """Return the plugin's own migration sets for the tables it owns.

    :param server: the server being started; its store is not open yet.
    :return: a list of ``sqlite_utils.migrations.Migrations`` (each with a unique name,
        conventionally the plugin's name). They are applied in order after the core set.

    Any plugin may implement it. Called once, before the store opens.
    """


@hookspec
def register_models(
    server: AgentServer,
) -> Mapping[ModelType, Any] | list[ModelProvider] | None:
    """Offer model handlers (text generation, embeddings, speech, ...).

    :param server: the server.
    :return: ``{ModelType.TEXT_LARGE: handler, ...}`` (each at the default priority 0), or a
        list of :class:`~eliza.ModelProvider` to choose priorities. A text handler is
        ``async def handler(runtime, params) -> str | AsyncIterator[str]``: the reply text
        (used verbatim) or an async iterator of chunks, which are streamed to clients.

    A plugin's models apply to the agents whose character enables the plugin; the core's
    own plugins apply to every agent. Called once at startup.
    """


@hookspec
def register_routes(server: AgentServer) -> list[Route] | None:
    """Return HTTP routes served under the plugin's prefix.

    :param server: the server.
    :return: a list of :class:`~eliza.Route`. They answer at
        ``/api/agents/<agentId>/plugins/<plugin>/<path>`` for agents that enable the plugin,
        and at ``/<plugin>/<path>`` and ``/api/<plugin>/<path>`` with ``?agentId=``.

    Called once at startup.
    """


@hookspec
def register_panels(server: AgentServer) -> list[Panel] | None:
    """Return UI panels listed by ``GET /api/agents/<agentId>/panels``.

    :param server: the server.
    :return: a list of :class:`~eliza.Panel`. A public GET route with a ``name`` is also
        listed as a panel, as in ElizaOS.

    Called once at startup.
    """


@hookspec
def register_bus_listeners(server: AgentServer) -> list[BusListener] | None:
    """Return listeners for message-bus events.

    :param server: the server.
    :return: a list of :class:`~eliza.BusListener`. Each runs as a supervised task with its
        own bounded subscription; a listener that raises is logged and restarted.

    Called once at startup.
    """


@hookspec
def startup(server: AgentServer) -> Awaitable[None] | None:
    """Run start-up work once the store is open and before agents start.

    :param server: the server; ``server.nursery`` is open, so long-running work may be
        started there with ``server.nursery.start_soon``.
    :return: None, or an awaitable the server awaits before it continues.

    An exception here stops the server from starting.
    """


# ---------------------------------------------------------------------------------------
# Shutdown
# ---------------------------------------------------------------------------------------


@hookspec
def shutdown(server: AgentServer) -> Awaitable[None] | None:
    """Release what ``startup`` acquired. Called once, after agents have stopped.

    :param server: the server; the store is still open.
    :return: None, or an awaitable the server awaits (under the shutdown grace deadline).

    An exception here is logged; the other plugins' shutdown hooks still run.
    """
