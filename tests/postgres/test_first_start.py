"""Servers that start together on one fresh PostgreSQL schema (each with its own data
directory: they share nothing but the database) migrate it once and end up with exactly one
default agent, and every one of them starts."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import trio

from conftest import LiveServer
from tests.backends import own_schema

from .support import request, rows

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]

SERVERS = 5


@pytest.fixture
def schema_url() -> Iterator[str]:
    with own_schema("first") as (_, url):
        yield url


async def test_servers_starting_at_once_create_one_default_agent(
        tmp_path: Path, schema_url: str) -> None:
    servers = [LiveServer(tmp_path / f"srv{i}" / ".eliza", {"POSTGRES_URL": schema_url,
                                                          "SECRET_SALT": "one-deployment"})
               for i in range(SERVERS)]
    try:
        async with trio.open_nursery() as nursery:
            for server in servers:
                # Generous: five servers importing at once share the machine's cores.
                nursery.start_soon(partial(trio.to_thread.run_sync, server.start, 90))
        for server in servers:
            listed = await request("GET", f"{server.url}/api/agents")
            agents = listed.json()["data"]["agents"]
            assert [a["name"] for a in agents] == ["Eliza"], server.log()
        assert rows(servers[0], "SELECT count(*) FROM agents WHERE name = 'Eliza'") == [(1,)]
        assert rows(servers[0], "SELECT count(*) FROM agents") == [(1,)]
        assert rows(servers[0], "SELECT count(*) FROM message_servers") == [(1,)]
    finally:
        for server in servers:
            server.stop()
