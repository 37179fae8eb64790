"""The one HTTP request path every domain shares: headers, the unwrapping rules of the
published @elizaos/api-client 1.7.2 and the error envelope turned into `ElizaApiError`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from .errors import ElizaApiError

JSONObject = dict[str, Any]


def to_ms(value: int | float | datetime | None) -> int | None:
    """A `before`/`after` cursor as epoch milliseconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


def _params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def error_from(body: Any, status: int, reason: str) -> ElizaApiError:
    """The error an answer's JSON body describes. Unlike the api-client, a plain-string
    `error` (the 401 of the API-key check) keeps its text instead of "Unknown error"."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return ElizaApiError(
            str(code) if code not in (None, "") else "HTTP_ERROR",
            str(error.get("message") or "Unknown error"),
            status,
            error.get("details"),
        )
    if isinstance(error, str):
        details = body.get("message") if isinstance(body, dict) else None
        return ElizaApiError("HTTP_ERROR", error, status, details)
    return ElizaApiError("HTTP_ERROR", f"HTTP {status}: {reason}", status)


def unwrap(response: httpx.Response, *, raw: bool = False) -> Any:
    """The api-client's rules: an empty answer is None; a failure status or
    `{success: false}` raises; `{success: true, data}` gives `data`; anything else (the raw
    routes) is returned as is. `raw=True` returns the whole JSON body of a success."""
    status = response.status_code
    ok = 200 <= status < 300
    if status == 204 or not response.content:
        if ok:
            return None
        raise ElizaApiError("HTTP_ERROR", f"HTTP {status}: {response.reason_phrase}", status)
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        if ok:
            return None
        raise ElizaApiError("PARSE_ERROR", "Failed to parse response as JSON", status,
                            response.text[:200]) from None
    if not ok:
        raise error_from(body, status, response.reason_phrase)
    if isinstance(body, dict) and "success" in body:
        if not body["success"]:
            raise error_from(body, status, response.reason_phrase)
        if raw:
            return body
        return body.get("data", body)
    return body


class Http:
    """An httpx.AsyncClient with the SDK's headers and error handling."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        all_headers = {"Accept": "application/json", **(headers or {})}
        if api_key:
            all_headers["X-API-KEY"] = api_key
        self.client = httpx.AsyncClient(
            base_url=self.base_url, headers=all_headers, timeout=timeout, transport=transport
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        raw: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            response = await self.client.request(
                method, path, params=_params(params), json=json_body, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise ElizaApiError("TIMEOUT", f"Request timed out: {method} {path}") from exc
        except httpx.HTTPError as exc:
            raise ElizaApiError("NETWORK_ERROR", str(exc) or type(exc).__name__) from exc
        return unwrap(response, raw=raw)

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return await self.request("POST", path, json_body={} if body is None else body, **kw)

    async def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return await self.request("PATCH", path, json_body={} if body is None else body, **kw)

    async def delete(self, path: str, **kw: Any) -> Any:
        return await self.request("DELETE", path, **kw)

    async def aclose(self) -> None:
        await self.client.aclose()


class Service:
    """Base of the domain objects (`client.agents`, ...): they share one `Http`."""

    def __init__(self, http: Http) -> None:
        self._http = http
