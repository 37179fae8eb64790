"""eliza-plugin-example: the plugin to copy when you write your own.

It shows the three things most plugins do:

- **a bus listener** (``register_bus_listeners``) that counts ``new_message`` events per
  channel;
- **routes** (``register_routes``): ``GET /count`` returns those counts and
  ``GET /hello/<name>`` shows a path parameter. They answer at
  ``/api/agents/<agentId>/plugins/example/...`` for agents whose character lists
  ``"example"`` in ``plugins``;
- **a panel** (``register_panels``): a small HTML page the web UI shows in a tab.

Install it with ``pip install -e plugins/eliza-plugin-example``; the ``eliza`` entry point in
its ``pyproject.toml`` is what makes the server find it.
"""

from __future__ import annotations

import weakref
from collections import Counter
from functools import partial
from importlib import resources
from typing import TYPE_CHECKING, Any

from eliza import BusListener, Event, Panel, Route, hookimpl

if TYPE_CHECKING:
    # Only for type hints: importing the server at run time is never needed by a plugin.
    from quart import Request

    from eliza.runtime.agent import AgentRuntime
    from eliza.server import AgentServer


class MessageCounts:
    """What this plugin remembers: stored messages seen, per channel."""

    def __init__(self) -> None:
        self.per_channel: Counter[str] = Counter()

    async def on_event(self, event: Event) -> None:
        # The listener only subscribes to `new_message`, whose `message` dict is the
        # ElizaOS message structure (snake_case keys).
        message: dict[str, Any] = event.to_dict()["message"]
        self.per_channel[str(message["channel_id"])] += 1


# One process may run several servers (the test suite does), so state is kept per server
# rather than in module globals; the weak keys let a stopped server be collected.
_counts: weakref.WeakKeyDictionary[AgentServer, MessageCounts] = weakref.WeakKeyDictionary()


def counts_for(server: AgentServer) -> MessageCounts:
    if server not in _counts:
        _counts[server] = MessageCounts()
    return _counts[server]


# -- route handlers: `async def handler(request, runtime)` ----------------------------------
# `runtime` is the agent the request is for. State the plugin keeps per server reaches a
# handler through the hook that registered it (see `register_routes`). Return
# anything Quart accepts: a dict becomes JSON, a (body, status) tuple sets the status.
# Raise `eliza.NotFound`, `eliza.BadRequest`, ... for error answers; any other exception
# becomes a logged JSON 500 and never takes the server down.


async def count(request: Request, runtime: AgentRuntime, counts: MessageCounts
                ) -> dict[str, Any]:
    per_channel = counts.per_channel
    return {"agentId": runtime.agent_id, "channels": dict(per_channel),
            "total": sum(per_channel.values())}


async def hello(request: Request, runtime: AgentRuntime) -> dict[str, Any]:
    # Path parameters (`<name>` in the route's path) are in `request.view_args`.
    name = (request.view_args or {})["name"]
    return {"message": f"Hello, {name}!", "from": runtime.name}


# -- hooks: each takes `server`, and is called once at start-up -----------------------------


@hookimpl
def register_bus_listeners(server: AgentServer) -> list[BusListener]:
    # Each listener gets its own bounded queue; if the handler raises, the error is logged
    # and the next event still arrives.
    return [BusListener(["new_message"], counts_for(server).on_event, name="message-counter")]


@hookimpl
def register_routes(server: AgentServer) -> list[Route]:
    return [
        Route("GET", "/count", partial(count, counts=counts_for(server))),
        Route("GET", "/hello/<name>", hello),
    ]


@hookimpl
def register_panels(server: AgentServer) -> list[Panel]:
    # Inline HTML is served by the server at a path of its own; a panel may instead give a
    # `path` relative to the plugin's prefix (for example a public GET route of its own).
    html = resources.files(__name__).joinpath("panel.html").read_text(encoding="utf-8")
    return [Panel("Message counts", html=html)]
