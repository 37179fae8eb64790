"""Imports are cheap and side-effect free: the SDK (`eliza.client`) does not pull in the
server stack, and `eliza.app` reads no settings, loads no plugin and builds no server until
hypercorn starts it, so a bad setting fails the start with a clear message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

import eliza
from conftest import LiveServer, free_port

# The checkout under test first on the path, whatever the child's working directory.
SOURCE_ROOT = Path(eliza.__file__).resolve().parent.parent
BAD_SETTING = "PORT=notanumber\n"
BAD_SETTING_MESSAGE = "eliza: bad setting: PORT/SERVER_PORT is not a number: 'notanumber'"

# Run with `python -c` in a directory holding a `.env` with a bad setting: reports what
# `import eliza.app` opened, which entry-point groups it read, and what it built.
IMPORT_APP_PROBE = """
import gc, importlib.metadata, json, sys

opened = []
sys.addaudithook(lambda event, args: opened.append(args[0]) if event == "open" else None)
groups = []
real_entry_points = importlib.metadata.entry_points

def entry_points(**params):
    groups.append(params.get("group"))
    return real_entry_points(**params)

importlib.metadata.entry_points = entry_points

import eliza.app

print(json.dumps({
    "opened": [str(path) for path in opened if isinstance(path, (str, bytes))],
    "entry_point_groups": groups,
    "plugin_modules": sorted(name for name in sys.modules if name.startswith("eliza_plugin")),
    "servers": sum(type(obj).__name__ == "AgentServer" for obj in gc.get_objects()),
    "app_server": repr(eliza.app.app.config.get("ELIZA_SERVER")),
}))
"""


def run_python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(SOURCE_ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": path, **env},
    )


def test_the_sdk_imports_without_the_server_stack(tmp_path: Path) -> None:
    done = run_python(
        "import sys, eliza.client; "
        "assert not {'quart','hypercorn','pluggy'} & set(sys.modules), "
        "sorted({'quart','hypercorn','pluggy'} & set(sys.modules))",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr


def test_plugin_authors_names_still_import_from_eliza(tmp_path: Path) -> None:
    done = run_python(
        "from eliza import hookimpl, Route, Panel, BusListener, ModelType, ModelProvider, "
        "Event, ApiError, NotFound, __version__; import eliza; "
        "assert all(hasattr(eliza, name) for name in eliza.__all__); print(__version__)",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == eliza.__version__


def test_importing_the_app_reads_no_settings_loads_no_plugin_builds_no_server(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / ".env").write_text(BAD_SETTING)
    (tmp_path / ".env").write_text(BAD_SETTING)
    done = run_python(IMPORT_APP_PROBE, tmp_path, ELIZA_DATA_DIR=str(data_dir),
                      ELIZA_LOAD_PLUGINS="example,openai")
    assert done.returncode == 0, done.stderr  # a settings read would have raised
    report = json.loads(done.stdout.splitlines()[-1])
    opened = [Path(path) for path in report["opened"]]
    assert any(SOURCE_ROOT in path.resolve().parents for path in opened)  # the hook sees reads
    assert [path for path in opened if path.name == ".env"] == []
    assert [path for path in opened if tmp_path in path.resolve().parents] == []
    assert "eliza" not in report["entry_point_groups"]
    assert report["plugin_modules"] == []
    assert report["servers"] == 0
    assert report["app_server"] == "None"


def test_hypercorn_serves_the_module_app(live_server: LiveServer) -> None:
    ping = httpx.get(live_server.url + "/api/server/ping", timeout=10)
    assert ping.status_code == 200
    assert ping.json()["pong"] is True
    agents = httpx.get(live_server.url + "/api/agents", timeout=10)
    assert agents.status_code == 200
    assert [agent["name"] for agent in agents.json()["data"]["agents"]] == ["Eliza"]


def hypercorn(tmp_path: Path, *options: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "hypercorn", "-k", "trio", *options,
         "-b", f"127.0.0.1:{free_port()}", "eliza.app:app"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "ELIZA_DATA_DIR": str(tmp_path / ".eliza")},
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_a_bad_setting_fails_the_start_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(BAD_SETTING)
    # The default command: the worker process fails its start and hypercorn exits (its
    # supervisor reports 0 for a failed worker, whatever the app does, so the exit status
    # is checked below with the worker in-process).
    _, out = hypercorn(tmp_path)
    assert BAD_SETTING_MESSAGE in out
    assert "Lifespan failure in startup" in out  # at start, after a clean import
    status, out = hypercorn(tmp_path, "--workers", "0")
    assert status != 0
    assert BAD_SETTING_MESSAGE in out

