"""Real servers on one PostgreSQL schema: a second host with another SECRET_SALT refuses to
start and says what to set, a host with the same salt starts and opens the secret the first
one sealed, and two workers starting at once on one data directory agree on its salt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from conftest import LiveServer, make_settings, open_app
from eliza.security.secrets import SALT_FILE
from eliza.server import AgentServer
from tests.backends import own_schema
from tests.postgres.support import request

from .deployment import data_dir, running, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]

SECRETS = {"API_TOKEN": "sk-deployment-91ab"}


@pytest.fixture
def schema_url() -> Iterator[str]:
    with own_schema("salt") as (_, url):
        yield url


@pytest.fixture
def first_host(tmp_path: Path, schema_url: str) -> Iterator[LiveServer]:
    server = LiveServer(data_dir(tmp_path, "host1"), worker_env(schema_url))
    with running([server]):
        yield server


async def test_another_salt_is_refused_and_the_same_salt_opens_the_secrets(
        tmp_path: Path, schema_url: str, first_host: LiveServer) -> None:
    created = await request("POST", f"{first_host.url}/api/agents", json={"characterJson": {
        "name": "Keeper", "settings": {"secrets": SECRETS}}})
    assert created.status_code == 201, created.text
    agent_id = created.json()["data"]["id"]

    other = LiveServer(data_dir(tmp_path, "host2"),
                       worker_env(schema_url, SECRET_SALT="not-the-deployment-salt"))
    try:
        with pytest.raises(RuntimeError, match="exited early"):
            await trio.to_thread.run_sync(other.start, 60)
    finally:
        other.stop()
    assert ("set SECRET_SALT to the value the other hosts of this deployment use"
            in other.log()), other.log()

    settings = make_settings(tmp_path / "host3", **worker_env(schema_url))
    async with open_app(settings) as app:
        server: AgentServer = app.app.config["ELIZA_SERVER"]
        opened = server.secrets.decrypt_character(server.agents.get(agent_id).character)
        assert opened["settings"]["secrets"] == SECRETS


def test_workers_starting_at_once_on_one_data_dir_agree_on_the_salt(
        tmp_path: Path, schema_url: str) -> None:
    shared = data_dir(tmp_path, "host")
    workers = [LiveServer(shared, worker_env(schema_url, SECRET_SALT="")) for _ in range(2)]
    # Had they made two salts, the second to check it against the database would refuse.
    with running(workers):
        for worker in workers:
            assert httpx.get(f"{worker.url}/api/agents", timeout=30).status_code == 200
    assert len((shared / SALT_FILE).read_text()) == 64
