"""The routes that remove the fixture objects, rewrite the environment or stop the server,
fuzzed on a throwaway server of their own so the package's fuzz server keeps running."""

from __future__ import annotations

from typing import Any

import pytest

from .harness import Fuzzer, strict_loads
from .surface import DESTRUCTIVE, ELIZA_ID, HOSTILE_BODIES, all_routes, build_world

pytestmark = pytest.mark.fuzz

ENV = "/api/system/env/local"


def test_destructive_routes_on_a_throwaway_server(live_server_factory: Any) -> None:
    server = live_server_factory()
    fuzz = Fuzzer(server)
    try:
        fuzz.mark_log()
        document = strict_loads(fuzz.client.get("/api/openapi.json").content)
        world = build_world(fuzz)
        routes = all_routes(document)
        # .env rewrites: hostile bodies and keys, then the server must still start on it.
        for what, raw in HOSTILE_BODIES:
            fuzz.send("POST", ENV, content=raw, what=what)
        for content in ({"A": ["x"]}, {"A": {"b": 1}}, {"": "x"}, {"A B": "x"}, {"A=B": "x"},
                        {"A": "line\nB=injected"}, {"A": "x" * 100_000}, {"\u00e9": "x"},
                        {"A": None}, {"A": 1e308}, ["A"], "A=1", {"FUZZ_OK": "kept"}):
            fuzz.send_json("POST", ENV, {"content": content})
        env = fuzz.send("GET", ENV, what="after")
        assert env is not None
        assert env.status_code == 200
        assert strict_loads(env.content)["data"].get("FUZZ_OK") == "kept"
        assert "B" not in strict_loads(env.content)["data"], "a value injected a variable"
        fuzz.close()
        server.restart()
        # Every DELETE with the real objects' ids, and stopping the real agent.
        for route in routes:
            if route.method != "DELETE" and route.rule != "/api/agents/{agent_id}/stop":
                continue
            values = {name: world.values[name] for name in route.params}
            fuzz.send(route.method, route.fill(values), content=b"{}", what="real")
            fuzz.send(route.method, route.fill({k: v.upper() for k, v in values.items()}),
                      content=b"{}", what="upper")
        ping = fuzz.send("GET", "/api/server/ping", what="after")
        assert ping is not None
        assert ping.status_code == 200
        gone = fuzz.send("GET", f"/api/agents/{ELIZA_ID}", what="after")
        assert gone is not None
        assert gone.status_code == 404, "the agent delete did nothing"
        # Stopping: a hostile body still gets an answer, then the process ends cleanly.
        stops = [r for r in routes if (r.method, r.rule) in DESTRUCTIVE and "stop" in r.rule]
        assert len(stops) == 2, stops
        stopped = fuzz.send("POST", stops[0].rule, content=b'{"a": ', what="truncated")
        assert stopped is not None
        assert stopped.status_code < 300, stopped
        assert server.proc.wait(20) == 0
        fuzz.assert_clean()
    finally:
        fuzz.close()
