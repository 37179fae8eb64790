"""A plugin author's test project, written to a directory and run by pytest in a fresh
process: the way `eliza.testing` is really met (its fixtures come from the entry point)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import eliza

# The tree under test, so the child imports this eliza whatever its working directory.
SOURCE_ROOT = Path(eliza.__file__).resolve().parents[1]

PYPROJECT = """\
[tool.pytest.ini_options]
trio_mode = true
filterwarnings = ["error"]
"""


def run_author_tests(directory: Path, tests: str, *, pyproject: str = PYPROJECT,
                     files: Mapping[str, str] | None = None
                     ) -> subprocess.CompletedProcess[str]:
    """Write `tests` as the project's only test file (and `files`, such as the plugin's
    module, next to it) and run pytest on it; the child's output is in `.stdout`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in {"pyproject.toml": pyproject, **(files or {}),
                       "test_author.py": tests}.items():
        (directory / name).write_text(text, encoding="utf-8")
    path = os.pathsep.join(p for p in (str(SOURCE_ROOT), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_author.py"],
        cwd=directory, env={**os.environ, "PYTHONPATH": path}, capture_output=True,
        text=True, timeout=300,
    )


def assert_passed(result: subprocess.CompletedProcess[str], count: int) -> None:
    output = f"pytest exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, output
    assert f"{count} passed" in result.stdout, output
