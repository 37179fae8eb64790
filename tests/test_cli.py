"""Running the server: `eliza serve` under hypercorn's trio worker with a graceful stop on
SIGTERM/SIGINT, `POST /api/server/stop`, the asyncio worker refused with a clear message,
and one process per data directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import LiveServer, free_port
from eliza import cli
from eliza.app import WRONG_WORKER
from tests.polling import wait_until_sync

ELIZA = str(Path(sys.executable).with_name("eliza"))


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    def up() -> bool:
        assert proc.poll() is None, "server exited early"
        return httpx.get(url + "/api/server/ping", timeout=1).status_code == 200

    wait_until_sync(up, within=timeout, interval=0.1, message=f"the server at {url} to start",
                    ignoring=(httpx.HTTPError,))


def spawn(args: list[str], tmp_path: Path, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "ELIZA_DATA_DIR": str(tmp_path / ".eliza"),
             "ELIZA_RATE_LIMIT": "off", **env},
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 20) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"did not exit:\n{out.decode(errors='replace')}") from None
    return proc.returncode, out.decode(errors="replace")


def test_eliza_serve_runs_and_stops_gracefully_on_sigint_and_sigterm(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    for sig, args, env in ((signal.SIGINT, ["--port", str(port)], {}),
                           (signal.SIGTERM, [], {"PORT": str(port)})):
        proc = spawn([ELIZA, "serve", *args], tmp_path, **env)
        try:
            wait_until_up(url, proc)
            # The same agents both times: the lock is released and the desired state kept.
            agents = httpx.get(url + "/api/agents").json()["data"]["agents"]
            assert [(a["name"], a["status"]) for a in agents] == [("Eliza", "active")]
        finally:
            proc.send_signal(sig)
        code, out = finish(proc)
        assert code == 0, out
        assert f"serving on http://127.0.0.1:{port}" in out


def test_eliza_serve_stops_on_post_server_stop(tmp_path: Path) -> None:
    port = free_port()
    proc = spawn([ELIZA, "serve", "--port", str(port)], tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc)
        response = httpx.post(url + "/api/server/stop",
                              headers={"Content-Type": "application/json"})
        assert response.status_code == 200
        assert response.json() == {"message": "Server stopping..."}
    except BaseException:
        proc.kill()
        raise
    code, out = finish(proc)
    assert code == 0, out


def test_post_server_stop_stops_hypercorn(live_server: LiveServer) -> None:
    response = httpx.post(live_server.url + "/api/server/stop")
    assert response.json() == {"message": "Server stopping..."}
    assert live_server.proc is not None
    assert live_server.proc.wait(timeout=15) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(live_server.url + "/api/server/ping", timeout=2)


def test_hypercorn_asyncio_worker_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    port = free_port()
    proc = spawn([sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}",
                  "eliza.app:app"], tmp_path)
    # It ends (hypercorn 0.18's master reports exit 0 even when its worker failed).
    _, out = finish(proc, timeout=30)
    assert WRONG_WORKER in out


@pytest.mark.sqlite_only  # one process per data dir is SQLite's rule (PostgreSQL shares it)
def test_a_second_server_on_the_same_data_dir_refuses_to_start(live_server: LiveServer,
                                                               tmp_path: Path) -> None:
    data_dir = str(live_server.data_dir)
    proc = spawn([sys.executable, "-m", "hypercorn", "-k", "trio", "-b",
                  f"127.0.0.1:{free_port()}", "eliza.app:app"], tmp_path,
                 ELIZA_DATA_DIR=data_dir)
    _, out = finish(proc, timeout=30)
    assert "another eliza server already uses" in out
    assert data_dir in out

    proc = spawn([ELIZA, "serve", "--port", str(free_port())], tmp_path, ELIZA_DATA_DIR=data_dir)
    code, out = finish(proc, timeout=30)
    assert code == 1
    assert "another eliza server already uses" in out
    # The first server is unaffected.
    assert httpx.get(live_server.url + "/api/server/ping").status_code == 200


def test_bad_setting_is_reported(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    assert cli.main(["serve"]) == 2
    assert "PORT" in capsys.readouterr().err
