"""A longer fuzz run than CI's: the tests/fuzz suite with more generated bodies per route.

    python -m bench.fuzz --examples 500

Runs pytest on tests/fuzz with FUZZ_EXAMPLES set (the hypothesis examples per JSON route);
the exit status is pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500,
                        help="generated bodies per JSON route (CI runs 25)")
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest")
    args = parser.parse_args(argv)
    env = {**os.environ, "FUZZ_EXAMPLES": str(args.examples),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "pytest", "tests/fuzz", "-q", "-p", "no:cacheprovider",
               "--durations=10", *args.pytest_args]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
