"""Listings answered as a stream: items come in batches from a service, the JSON is written
a batch at a time, and the bytes are exactly those of the whole answer sent at once.

A listing that fits in its first batch (the common case) is the usual answer, built whole.
A larger one goes out as a chunked response whose generator is pulled only as fast as the
client reads (hypercorn awaits each write), so the server holds one batch per request, never
the answer. An error before the first byte is the usual error answer; one after it (the
store failing mid-listing) can only cut the response short, which the client sees as
truncated JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from quart import Response, current_app

# Stands for the item list in the envelope: its JSON text is where the items go.
_MARK: Final = "\x00eliza-listing\x00"
_COMPACT: Final = (",", ":")  # what Quart's JSON provider writes outside debug mode

Envelope = Callable[[list[Any]], Any]


async def json_listing(batches: AsyncIterator[list[Any]], envelope: Envelope,
                       status: int = 200) -> Any:
    """The answer `envelope(items)`, items being every batch's in order. Streamed, the
    envelope is asked for with a marker in place of the items, once before the first batch
    is written (only the part before the items is used) and once after the last."""
    first = await anext(batches, None)
    second = None if first is None else await anext(batches, None)
    if first is None or second is None:
        return envelope(first or []), status
    # The body is written outside the app context: take the app's JSON provider now.
    provider = current_app.json

    def _dumps(value: Any) -> str:
        text: str = provider.dumps(value, separators=_COMPACT)
        return text

    # Popped as they are written: a suspended generator must not keep a written batch alive.
    read = [first, second]
    del first, second

    async def body() -> AsyncIterator[bytes]:
        mark = _dumps(_MARK)
        wrote = False

        def items(batch: list[Any]) -> str:
            nonlocal wrote
            text = ("," if wrote and batch else "") + _dumps(batch)[1:-1]
            wrote = wrote or bool(batch)
            return text

        # Only the encoded chunk is held while the client takes it, not the batch's items.
        chunk = (_dumps(envelope([_MARK])).split(mark, 1)[0] + items(read.pop(0))).encode()
        yield chunk
        chunk = items(read.pop(0)).encode()
        yield chunk
        while (batch := await anext(batches, None)) is not None:
            chunk = items(batch).encode()
            del batch
            yield chunk
        yield (_dumps(envelope([_MARK])).split(mark, 1)[1] + "\n").encode()

    mimetype: str = provider.mimetype  # type: ignore[attr-defined]
    return Response(body(), status=status, mimetype=mimetype)
