"""Every plugin hook, typed and documented.

How the server calls them:

- Always through pluggy's hook callers, so `ELIZA_TRACE_PLUGINS=1` logs every call with its
  arguments and results.
- Synchronously (pluggy is synchronous). An implementation may return its value directly or
  an awaitable that produces it; the server awaits awaitables, one plugin after another.
- Where the server must know which plugin answered (what a plugin contributes is filed
  under its name) or must keep one plugin's failure from stopping the others, it calls each
  plugin's implementation on its own through a subset hook caller
  (`eliza.plugins.call_each`); otherwise it calls `pm.hook.<name>(server=...)` once.
- Every hook takes one argument, `server` (the :class:`~eliza.server.AgentServer`); pluggy
  rejects implementations whose parameter names do not appear in the spec.
- Each hook is called once per server, in the order of this module, while the server
  starts (or, for `shutdown`, stops). No hook is `firstresult` or `historic`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from sqlite_utils.migrations import Migrations

    from .plugin_api import BusListener, Panel, RequiredSetting, Route
    from .runtime.models import ModelProvider, ModelType
    from .server import AgentServer

hookspec = pluggy.HookspecMarker("eliza")
hookimpl = pluggy.HookimplMarker("eliza")


# ---------------------------------------------------------------------------------------
# Store setup: before the store opens. Called once through `pm.hook`, results concatenated.
# ---------------------------------------------------------------------------------------


@hookspec
def register_migrations(server: AgentServer) -> list[Migrations] | None:
    """Return the plugin's own migration sets for the tables it owns.

    :param server: the server being started; its store is not open yet.
    :return: a list of ``sqlite_utils.migrations.Migrations`` (each with a unique name,
        conventionally the plugin's name). They are applied in order after the core set.

    Any plugin may implement it. Called once, before the store opens.
    """


# ---------------------------------------------------------------------------------------
# Contributions: after the store opens, before any agent starts. Each plugin's
# implementation is called on its own; what it returns is filed under its name. An
# exception stops the server from starting (a broken plugin is a configuration error).
# ---------------------------------------------------------------------------------------


@hookspec
def register_models(
    server: AgentServer,
) -> Mapping[ModelType, Any] | list[ModelProvider] | None:
    """Offer model handlers (text generation, embeddings, speech, ...).

    :param server: the server.
    :return: ``{ModelType.TEXT_LARGE: handler, ...}`` (each at the default priority 0), or a
        list of :class:`~eliza.ModelProvider` to choose priorities (and, for a
        ``TEXT_TO_SPEECH`` provider, its ``voices``). A text handler is
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
def required_settings(server: AgentServer) -> list[RequiredSetting] | None:
    """Declare the settings an agent that enables the plugin must have.

    :param server: the server.
    :return: a list of :class:`~eliza.RequiredSetting`. An agent whose character enables
        the plugin but lacks one of them is not started: its start answers 422
        ``MISSING_SETTING`` naming the plugin and the setting, and a WARNING says why.
        Settings are looked up as ``runtime.get_setting`` does (secrets, then settings).

    A plugin that needs nothing leaves the hook out. Called once at startup.
    """


# ---------------------------------------------------------------------------------------
# Startup: once the server's nursery is open, before the default agent is created and the
# stored agents resume. Each plugin's implementation is called, and awaited, on its own.
# ---------------------------------------------------------------------------------------


@hookspec
def startup(server: AgentServer) -> Awaitable[None] | None:
    """Run start-up work once the store is open and before agents start.

    :param server: the server; ``server.nursery`` is open, so long-running work may be
        started there with ``server.nursery.start_soon``.
    :return: None, or an awaitable the server awaits before it continues.

    An exception here stops the server from starting.
    """


# ---------------------------------------------------------------------------------------
# Shutdown: after the agents have stopped, before the store closes. Each plugin's
# implementation is called on its own under the shutdown grace deadline; one that raises
# is logged and the others still run.
# ---------------------------------------------------------------------------------------


@hookspec
def shutdown(server: AgentServer) -> Awaitable[None] | None:
    """Release what ``startup`` acquired. Called once, after agents have stopped.

    :param server: the server; the store is still open.
    :return: None, or an awaitable the server awaits (under the shutdown grace deadline).

    An exception here is logged; the other plugins' shutdown hooks still run.
    """
