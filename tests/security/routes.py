"""Every HTTP route of the app as (method, concrete path), read from its url map, so a
route added later is covered by the security matrices without editing them."""

from __future__ import annotations

import re
import uuid
from typing import Any

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALL_METHODS = frozenset({"GET", *STATE_CHANGING})
_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
# Parameters that are not ids; every other one gets a fresh, valid-looking UUID.
_NOT_IDS = {"plugin": "demo-plugin", "filename": "picture.png", "rest": "some/path"}


def _fill(match: re.Match[str]) -> str:
    return _NOT_IDS.get(match.group(2), str(uuid.uuid4()))


def http_routes(app: Any, methods: frozenset[str], prefix: str = "/") -> list[tuple[str, str]]:
    """(method, path) for each rule under `prefix` and each of its `methods`: the aliases
    (`/api/runtime/*`, `/api/messaging/central-*`, `/api/memory` vs `/api/agents`) are
    rules of their own, so each is listed."""
    found: list[tuple[str, str]] = []
    for rule in app.url_map.iter_rules():
        if rule.websocket or not rule.rule.startswith(prefix):
            continue
        path = _PARAM.sub(_fill, rule.rule)
        found.extend((method, path) for method in sorted(rule.methods & methods))
    return sorted(found)
