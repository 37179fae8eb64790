"""The published contract held against what the in-process app answers.

`ContractClient` is the Quart test client `open_app` installs: each response a test
receives through it is checked against the app's /api/openapi.json
(`eliza.api.contract_check`), and a departure fails the test in place. (Live servers check
their own answers: `ELIZA_CONTRACT_CHECK`, on in `LiveServer`.) Imported when an app is
opened, never at the package's import.
"""

from __future__ import annotations

from typing import Any

from quart_trio.testing.client import TrioClient
from quart_trio.testing.connections import TestHTTPConnection

from eliza.api.contract_check import Response, media_type, validator_of


class _Connection(TestHTTPConnection):
    """Keeps the headers as sent: the response object the test client builds adds a
    default `text/html` Content-Type where none was sent (a 204)."""

    async def as_response(self) -> Any:
        # Read first: the response takes these very headers and adds its default.
        sent = self.headers.get("Content-Type") if self.headers is not None else None
        response: Any = await super().as_response()
        response.sent_content_type = sent
        return response


class ContractClient(TrioClient):
    """The test client, failing the test on any response the contract does not describe."""

    http_connection_class = _Connection

    async def open(self, path: str, *args: Any, **kwargs: Any) -> Any:
        response: Any = await super().open(path, *args, **kwargs)
        method = str(kwargs.get("method", "GET")).upper()
        route = path.split("?", 1)[0]
        sent = getattr(response, "sent_content_type", response.headers.get("Content-Type"))
        # A streamed answer (an event stream) is read by the test itself: never buffer it here.
        streamed = media_type(sent) == "text/event-stream"
        body = b"" if streamed else await response.get_data(as_text=False)
        seen = Response(response.status_code, sent, body)
        problem = (await validator_of(self.app)).violation(method, route, seen)
        if problem is not None:
            raise AssertionError(f"contract violation: {method} {route} -> "
                                 f"{response.status_code}: {problem}")
        return response
