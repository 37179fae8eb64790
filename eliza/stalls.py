"""Bounds on peers that stop reading or sending: a connection whose writes make no progress
for `send_timeout` seconds, or whose request body stalls for `body_timeout` seconds, is
closed.

Why a watchdog and not a cancel scope: hypercorn's trio worker writes to the socket with its
cancellation shielded, so `trio.move_on_after` around an ASGI `send` to a peer that does not
read never fires. The only way to end such a write is to close the socket
(`_hypercorn_direct.connection_closer`), which a task other than the writer must do: the
`Watchdog`, one per Trio run, started on demand as a system task and gone when nothing is
being watched.

Memory held per stalled connection is then what the socket buffers plus the one chunk being
written, for at most `send_timeout` seconds: responses are sent in slices of at most
`SLICE` bytes, each of which must be taken by the peer within the timeout (a slow reader
that keeps reading is never cut).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Final, final

import trio

from .realtime._hypercorn_direct import connection_closer

log = logging.getLogger(__name__)

SEND_TIMEOUT_CONFIG: Final = "ELIZA_SEND_TIMEOUT"  # app.config key the transports read
DEFAULT_SEND_TIMEOUT: Final = 30.0
SLICE: Final = 64 * 1024  # the largest piece of a response body handed to one write
TICK: Final = 0.25  # how often the watchdog looks (the bounds are this much late at worst)

Message = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]


@final
class Watch:
    """One write (or wait) in progress: past `deadline`, `abort` is called once."""

    __slots__ = ("abort", "deadline")

    def __init__(self, deadline: float, abort: Callable[[], None]) -> None:
        self.deadline = deadline
        self.abort = abort


@final
class Watchdog:
    """Calls the `abort` of every watch whose deadline passed (see the module docstring)."""

    def __init__(self) -> None:
        self._watches: set[Watch] = set()
        self._running = False

    def add(self, deadline: float, abort: Callable[[], None]) -> Watch:
        watch = Watch(deadline, abort)
        self._watches.add(watch)
        if not self._running:
            self._running = True
            trio.lowlevel.spawn_system_task(self._run, name="eliza.stalls.watchdog")
        return watch

    def discard(self, watch: Watch) -> None:
        self._watches.discard(watch)

    async def _run(self) -> None:
        try:
            while self._watches:
                await trio.sleep(TICK)
                now = trio.current_time()
                for watch in [w for w in self._watches if w.deadline <= now]:
                    self._watches.discard(watch)
                    try:
                        watch.abort()
                    except Exception:  # a system task must never raise
                        log.exception("closing a stalled connection failed")
        finally:
            self._running = False


_WATCHDOG: trio.lowlevel.RunVar[Watchdog] = trio.lowlevel.RunVar("eliza.stalls.watchdog")


def watchdog() -> Watchdog:
    """The current Trio run's watchdog."""
    try:
        return _WATCHDOG.get()
    except LookupError:
        dog = Watchdog()
        _WATCHDOG.set(dog)
        return dog


@final
class WriteGuard:
    """The writes of one connection: one still unfinished `timeout` seconds after it began
    (or past `cut_off`) closes the connection through `abort`. Without an `abort` (a server
    whose socket cannot be reached) nothing is watched."""

    def __init__(self, timeout: float, abort: Callable[[], None] | None) -> None:
        self.timeout = timeout
        self.abort = abort
        self.aborted = False
        self._cut_off = math.inf
        self._current: Watch | None = None

    def _fire(self) -> None:
        self.aborted = True
        if self.abort is not None:
            self.abort()

    @contextmanager
    def writing(self) -> Iterator[None]:
        if self.abort is None:
            yield
            return
        dog = watchdog()
        watch = self._current = dog.add(
            min(trio.current_time() + self.timeout, self._cut_off), self._fire)
        try:
            yield
        finally:
            self._current = None
            dog.discard(watch)

    def cut_off(self, deadline: float) -> None:
        """A write still running at `deadline` closes the connection (a closing websocket
        whose peer stopped reading would otherwise wait out the whole timeout)."""
        self._cut_off = min(self._cut_off, deadline)
        if self._current is not None:
            self._current.deadline = min(self._current.deadline, deadline)


def guard_http(receive: Receive, send: Send, *, send_timeout: float, body_timeout: float
               ) -> tuple[Receive, Send]:
    """An HTTP request's ASGI `receive` and `send`, bounded: a wait for the next piece of a
    request body longer than `body_timeout`, or a response write unfinished after
    `send_timeout`, closes the connection (the app then sees `http.disconnect`)."""
    close = connection_closer(send)
    guard = WriteGuard(send_timeout, close)
    body_done = False

    async def bounded_receive() -> Any:
        nonlocal body_done
        if body_done:  # only the disconnect is left to wait for, however long it takes
            return await receive()
        with trio.move_on_after(body_timeout):
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message
        log.info("request body stalled for %.0f s: closing the connection", body_timeout)
        guard.aborted = body_done = True
        if close is not None:
            close()
        return {"type": "http.disconnect"}

    async def bounded_send(message: Message) -> None:
        body = message.get("body", b"")
        pieces: Iterable[Message]
        if message["type"] != "http.response.body" or len(body) <= SLICE:
            pieces = [message]
        else:
            more = message.get("more_body", False)
            view = memoryview(body)
            pieces = ({"type": "http.response.body", "body": bytes(view[at:at + SLICE]),
                       "more_body": more or at + SLICE < len(body)}
                      for at in range(0, len(body), SLICE))
        for piece in pieces:
            if guard.aborted:
                return  # the connection is closed: hypercorn would drop the rest anyway
            with guard.writing():
                await send(piece)

    return bounded_receive, bounded_send
