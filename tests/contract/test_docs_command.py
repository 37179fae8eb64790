"""The schemathesis command docs/api.md gives ("To run it yourself") passes against a live
server with an API key, as written (only the server's address differs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import LiveServer

pytestmark = [pytest.mark.contract, pytest.mark.sqlite_only]

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
KEY = "docs-command-key"


def documented_command() -> str:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"To run it yourself.*?```sh\n(.*?)```", text, re.S)
    assert block, "no command block after 'To run it yourself' in docs/api.md"
    command = re.search(r"^st run .*?(?<!\\)\n", block.group(1), re.S | re.M)
    assert command, "no `st run` command in the block"
    return command.group(0)


def test_the_documented_schemathesis_command_passes(live_server_factory: Any,
                                                    tmp_path: Path) -> None:
    server: LiveServer = live_server_factory(ELIZA_SERVER_AUTH_TOKEN=KEY)
    command = documented_command().replace("http://127.0.0.1:3000", server.url)
    assert server.url in command
    bin_dir = Path(sys.executable).parent  # `st` is installed beside the interpreter
    done = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
             "ELIZA_SERVER_AUTH_TOKEN": KEY, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "passed" in done.stdout
