"""Helpers for the hostile-input tests: raw requests, strict JSON reading (as JS
`JSON.parse` reads it) and the 4xx envelope with its `details`."""

from __future__ import annotations

import json
from typing import Any

JSON = {"Content-Type": "application/json"}


def _refuse(name: str) -> Any:
    raise AssertionError(f"the server sent {name}, which JSON.parse rejects")


def strict_json(raw: bytes) -> Any:
    """The body as JSON.parse reads it: NaN/Infinity fail."""
    return json.loads(raw, parse_constant=_refuse)


async def refused(response: Any, status: int = 400, code: str = "BAD_REQUEST",
                  field: str | None = None) -> dict[str, Any]:
    """Check a 4xx envelope (and the field it names); return its `error`."""
    raw = await response.get_data()
    assert response.status_code == status, (response.status_code, raw[:500])
    body = strict_json(raw)
    assert body["success"] is False, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert error["message"], error
    if field is not None:
        assert error["details"]["field"] == field, error
        assert error["details"]["problem"], error
    return error


async def ok_json(response: Any, status: int = 200) -> Any:
    raw = await response.get_data()
    assert response.status_code == status, (response.status_code, raw[:500])
    return strict_json(raw)


async def send_raw(client: Any, method: str, path: str, raw: bytes | str) -> Any:
    data = raw.encode() if isinstance(raw, str) else raw
    return await client.open(path, method=method, data=data, headers=JSON)
