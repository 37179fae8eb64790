"""Waiting for a condition with a deadline, for the states a test cannot await directly (a
store row, another process, a counter): `wait_until` in trio tests, `wait_until_sync` in
threads and plain tests (httpx sync, python-socketio)."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

import trio
from trio.testing import MockClock

T = TypeVar("T")

Message = str | Callable[[], str]


def _timed_out(message: Message, within: float, last: object) -> AssertionError:
    # Evaluated only now, so a message can carry late context (a server log, events seen).
    text = message() if callable(message) else message
    shown = repr(last)
    if len(shown) > 500:
        shown = shown[:500] + "..."
    return AssertionError(f"timed out after {within} s waiting for {text} (last: {shown})")


@overload
async def wait_until(
    condition: Callable[[], Awaitable[T | None]], *, within: float = ...,
    interval: float = ..., message: Message = ...,
) -> T: ...
@overload
async def wait_until(
    condition: Callable[[], T | None], *, within: float = ..., interval: float = ...,
    message: Message = ...,
) -> T: ...
async def wait_until(
    condition: Callable[[], object],
    *,
    within: float = 10.0,
    interval: float = 0.02,
    message: Message = "the condition",
) -> T:
    """Call `condition` (sync, or async) until it returns something truthy; return that.

    Raises AssertionError naming `message` and the last value after `within` seconds. The
    deadline is trio's clock, so under a MockClock it is virtual time like the code under
    test; a check that hangs is cancelled at the deadline too."""
    last: object = None
    with trio.move_on_after(within):
        while True:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            last = result
            if result:
                return result  # type: ignore[return-value]
            await trio.sleep(interval)
    raise _timed_out(message, within, last)


def wait_until_sync(
    condition: Callable[[], T | None],
    *,
    within: float = 10.0,
    interval: float = 0.05,
    message: Message = "the condition",
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """`wait_until` for code outside trio: blocks the calling thread between checks. A check
    raising one of `ignoring` (say httpx.TransportError while a server starts) counts as not
    yet; any other exception propagates (say, the server process exited)."""
    deadline = time.monotonic() + within
    last: object = None
    while True:
        try:
            last = condition()
        except ignoring as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise _timed_out(message, within, last)
        time.sleep(interval)


def idle_autojump_clock() -> MockClock:
    """A clock for tests that wait out a delay of the server (a restart backoff, a scheduled
    stop): virtual time jumps to the next deadline once every task has been idle for 50 ms
    of real time. Not autojump_threshold=0: the store works in a worker thread, and trio
    counts a task waiting on a thread as idle, so a zero threshold would jump (and fire
    deadlines) while a query runs."""
    return MockClock(autojump_threshold=0.05)
