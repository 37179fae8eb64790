"""One live server for the whole fuzz package, with real objects to aim at; each test
starts from a marked log and ends by checking the server is still whole."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import STORES, LiveServer
from tests.backends import shared_store

from .harness import Fuzzer, strict_loads
from .surface import ELIZA_ID, Route, World, all_routes, build_world

# RSS may grow with what the run stored and caches; an explosion (a leak per request, an
# unbounded buffer) is far past this.
RSS_GROWTH_KIB = 300 * 1024


@dataclass
class Target:
    fuzzer: Fuzzer
    world: World
    routes: list[Route]
    rss_before: int

    def check_whole(self) -> None:
        """After a fuzz run: the server answers, the fixture objects read back as they
        were, and its memory did not explode."""
        fz, values = self.fuzzer, self.world.values
        ping = fz.send("GET", "/api/server/ping", what="after")
        assert ping is not None
        assert ping.status_code == 200, ping
        # Identity, not content: a valid PATCH among the variants may rename or edit them;
        # that a refused one changed nothing is checked where it is sent (test_rest.py).
        reads = {
            f"/api/agents/{ELIZA_ID}": lambda d: d["id"] == ELIZA_ID,
            f"/api/agents/{self.world.second_agent}": lambda d: d["id"] == self.world.second_agent,
            f"/api/messaging/messages/{values['message_id']}":
                lambda d: d["id"] == values["message_id"],
            f"/api/messaging/channels/{values['channel_id']}/details":
                lambda d: d["id"] == values["channel_id"],
            f"/api/memory/{ELIZA_ID}/rooms/{values['room_id']}":
                lambda d: d["id"] == values["room_id"],
            "/api/agents/worlds":
                lambda d: values["world_id"] in {w["id"] for w in d["worlds"]},
        }
        for path, check in reads.items():
            response = fz.send("GET", path, what="after")
            assert response is not None
            assert response.status_code == 200, (path, response)
            data = strict_loads(response.content)["data"]
            assert check(data), (path, data)
        # A memory has no GET of its own; an empty PATCH is 404 once it is gone.
        memory = fz.send_json("PATCH", f"/api/memory/{ELIZA_ID}/memories/{values['memory_id']}",
                              {}, what="after")
        assert memory is not None
        assert memory.status_code == 200, memory
        session = fz.send("GET", f"/api/messaging/sessions/{values['session_id']}", what="after")
        assert session is not None
        assert session.status_code == 200, session
        grown = fz.rss_kib() - self.rss_before
        assert grown < RSS_GROWTH_KIB, f"RSS grew by {grown} KiB"

    def fresh_run(self) -> Fuzzer:
        """The fuzzer with its problem list emptied and the log marked."""
        self.fuzzer.problems.clear()
        self.fuzzer.mark_log()
        return self.fuzzer


@pytest.fixture(scope="package", params=STORES)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Target]:
    with shared_store(request.param) as env:
        yield from _fuzzing(LiveServer(tmp_path_factory.mktemp("fuzz") / ".eliza", env))


def _fuzzing(server: LiveServer) -> Iterator[Target]:
    server.start()
    fuzzer = Fuzzer(server)
    try:
        fuzzer.mark_log()
        document = strict_loads(fuzzer.client.get("/api/openapi.json").content)
        world = build_world(fuzzer)
        yield Target(fuzzer, world, all_routes(document), fuzzer.rss_kib())
    finally:
        fuzzer.close()
        server.stop()


@pytest.fixture
def fuzz(target: Target) -> Any:
    return target.fresh_run()
