"""`eliza.testing` as a plugin author meets it: installed with eliza, loaded by pytest on
its own, cheap to import in projects that never use it, and its fixtures working in a test
project of the author's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from tests.testing.project import SOURCE_ROOT, assert_passed, run_author_tests

# Imported only inside the fixtures: pytest loads eliza.testing in every run of every
# project where eliza is installed. (pluggy is not listed: pytest itself imports it.)
HEAVY = ("quart", "quart_trio", "hypercorn", "werkzeug", "httpx", "sqlite_utils",
         "eliza.server", "eliza.app", "eliza.plugins", "eliza.client", "eliza.store")

PROBE = """
import json, sys
import pytest
before = set(sys.modules)
import eliza.testing
print(json.dumps(sorted(set(sys.modules) - before)))
"""

AUTHOR_TESTS = '''
import os
from pathlib import Path

import pytest

from eliza import Route, hookimpl


class Greeter:
    @hookimpl
    def register_routes(self, server):
        return [Route("GET", "/hi", self.hi)]

    async def hi(self, request, runtime):
        return {"from": runtime.name, "greeting": runtime.get_setting("GREETING")}


@pytest.fixture
def eliza_plugins():
    return [("greeter", Greeter())]


@pytest.fixture
def eliza_settings(eliza_settings_factory):
    return eliza_settings_factory(ELIZA_LOAD_PLUGINS="")


async def test_route_for_an_agent_that_enables_the_plugin(eliza_app, eliza_client):
    agent = await eliza_app.start_agent("greeter", name="Ann", settings={"GREETING": "hey"})
    resp = await eliza_client.get(f"/api/agents/{agent}/plugins/greeter/hi")
    assert await resp.get_json() == {"from": "Ann", "greeting": "hey"}


async def test_only_the_allowed_plugins_load(eliza_server):
    names = [n for n in eliza_server.plugin_names() if not n.startswith("eliza.")]
    assert names == ["greeter"]
    assert not eliza_server.agents.records  # no default agent


async def test_an_unloaded_plugin_is_named(eliza_app):
    with pytest.raises(LookupError, match="nope"):
        await eliza_app.start_agent("nope")


def test_each_settings_call_has_its_own_data_dir(eliza_settings_factory, tmp_path):
    first, second = eliza_settings_factory(), eliza_settings_factory(ELIZA_SERVER_AUTH_TOKEN="t")
    assert first.data_dir != second.data_dir
    assert tmp_path in first.data_dir.parents
    assert (first.auth_token, second.auth_token) == (None, "t")
    assert not first.rate_limits_enabled


async def test_live_server_and_rest_client(eliza_live_server, eliza_rest_client):
    Path("live.pid").write_text(str(eliza_live_server.proc.pid))
    assert await eliza_rest_client.agents.list() == []
    agent = eliza_live_server.start_agent(name="Bea")
    assert (await eliza_rest_client.agents.get(agent))["name"] == "Bea"
'''


def test_pytest_finds_the_fixtures_through_the_entry_point() -> None:
    (entry,) = metadata.entry_points(group="pytest11", name="eliza")
    assert entry.value == "eliza.testing"


def test_importing_it_loads_nothing_heavy() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          check=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(SOURCE_ROOT)})
    loaded = json.loads(proc.stdout)
    assert "eliza.testing" in loaded
    heavy = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []


def test_an_author_project_runs_with_the_fixtures(tmp_path: Path) -> None:
    project = tmp_path / "author"
    result = run_author_tests(project, AUTHOR_TESTS)
    pid_file = project / "live.pid"
    assert pid_file.exists(), result.stdout
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        stopped = True
    else:  # still running: the live server was not stopped at teardown
        os.kill(pid, signal.SIGKILL)
        stopped = False
    assert_passed(result, 5)
    assert stopped, "the live server outlived its test"


VIOLATION_LOGGED = '''
import subprocess
import sys

from eliza.testing.live import watch_log


def test_whose_server_logged_a_contract_violation(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("serving\\n")
    server = subprocess.Popen([sys.executable, "-c", "pass"])  # stands for a live server
    watch_log(log, server, offset=log.stat().st_size)
    with open(log, "a") as out:
        out.write("ERROR eliza.api.contract_check: contract violation: GET /api/agents"
                  " -> 200: the body at (the body): 'success' is a required property\\n")
    server.wait()
'''


def test_a_test_whose_live_server_answered_outside_the_contract_fails(tmp_path: Path) -> None:
    result = run_author_tests(tmp_path / "author", VIOLATION_LOGGED)
    assert result.returncode == 1, result.stdout
    assert "1 passed, 1 error" in result.stdout, result.stdout
    assert "live servers answered outside their contract" in result.stdout
    assert "contract violation: GET /api/agents -> 200" in result.stdout
