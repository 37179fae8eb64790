"""The schemathesis command docs/api.md gives ("To run it yourself"), with the
`schemathesis.toml` it gives, passes against a live server with an API key, as written (only
the server's address differs)."""

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


def documented_blocks() -> tuple[str, str]:
    """The `schemathesis.toml` and the `st run` command that follow "To run it yourself"."""
    text = DOC.read_text(encoding="utf-8")
    section = re.search(r"To run it yourself(.*?)\n### ", text, re.S)
    assert section, "no 'To run it yourself' section in docs/api.md"
    config = re.search(r"```toml\n(.*?)```", section.group(1), re.S)
    assert config, "no schemathesis.toml block in the section"
    block = re.search(r"```sh\n(.*?)```", section.group(1), re.S)
    assert block, "no command block in the section"
    command = re.search(r"^st run .*?(?<!\\)\n", block.group(1), re.S | re.M)
    assert command, "no `st run` command in the block"
    return config.group(1), command.group(0)


def run_st(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent  # `st` is installed beside the interpreter
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
             "ELIZA_SERVER_AUTH_TOKEN": KEY, "NO_COLOR": "1"})


def report(done: subprocess.CompletedProcess[str]) -> str:
    """What schemathesis found (its FAILURES section comes first, its summary last)."""
    out = done.stdout
    failures = out.find("FAILURES")
    head = out[failures:failures + 6000] if failures >= 0 else ""
    return head + "\n...\n" + out[-2000:] + done.stderr[-2000:]


def test_the_documented_schemathesis_command_passes(live_server_factory: Any,
                                                    tmp_path: Path) -> None:
    server: LiveServer = live_server_factory(ELIZA_SERVER_AUTH_TOKEN=KEY)
    config, command = documented_blocks()
    command = command.replace("http://127.0.0.1:3000", server.url)
    assert server.url in command
    (tmp_path / "schemathesis.toml").write_text(config, encoding="utf-8")
    done = run_st(command, tmp_path)
    assert done.returncode == 0, report(done)
    assert "passed" in done.stdout


def test_the_documented_config_admits_a_documented_503(live_server_factory: Any,
                                                       tmp_path: Path) -> None:
    """Semantic search with no embedding agent answers its documented 503
    EMBEDDING_NOT_AVAILABLE: without the documented config schemathesis calls that a server
    error (as it did on a seed in CI), with it the run passes."""
    server: LiveServer = live_server_factory(ELIZA_SERVER_AUTH_TOKEN=KEY)
    config, command = documented_blocks()
    # one operation (schemathesis ignores --include-path beside an --exclude-path-regex)
    command = re.sub(r"--exclude-path-regex '[^']*'",
                     "--include-path /api/messaging/messages/search --seed 2",
                     command.replace("http://127.0.0.1:3000", server.url))
    command = command.replace("--max-examples 10", "--max-examples 200")
    assert "--include-path" in command
    assert "--max-examples 200" in command
    bare = tmp_path / "bare"
    bare.mkdir()
    refused = run_st(command, bare)
    assert refused.returncode != 0, report(refused)
    assert "[503]" in refused.stdout, report(refused)
    assert "EMBEDDING_NOT_AVAILABLE" in refused.stdout, report(refused)
    (tmp_path / "schemathesis.toml").write_text(config, encoding="utf-8")
    done = run_st(command, tmp_path)
    assert done.returncode == 0, report(done)
    assert "passed" in done.stdout
