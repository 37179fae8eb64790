"""The complete example of docs/client.md runs against a live server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def test_doc_example_runs(live_server: Any) -> None:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- doc-test: example -->\n```python\n(.*?)```", text, re.S)
    assert match, "no doc-test block in docs/client.md"
    done = subprocess.run([sys.executable, "-W", "error", "-c", match.group(1)],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "ELIZA_URL": live_server.url})
    assert done.returncode == 0, done.stderr
    rest, realtime = done.stdout.splitlines()
    assert rest == "REST: In what way?"
    assert realtime.startswith("realtime: ")
    assert len(realtime) > len("realtime: ")
