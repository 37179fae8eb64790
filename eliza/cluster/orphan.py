"""A worker whose parent died exits: it would otherwise keep serving the port (and its
agents) with nobody to stop or replace it.

Two mechanisms, because neither covers every case alone:

- `die_with_parent` asks Linux to send a signal when the parent dies (PR_SET_PDEATHSIG). The
  kernel ties it to the parent *thread* that forked the worker, so the parent must start
  workers from a thread that lives as long as it does (not from a pool thread).
- `exit_when_orphaned` watches `os.getppid()` from a trio task: it works everywhere, and also
  where the worker was started by something that cannot set the signal (hypercorn's master).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

import trio

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> bool:
    """Have the kernel send `sig` to this process when its parent dies (Linux only);
    whether it was set. Call `os.getppid()` afterwards: a parent that died before this
    call is not reported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)
    except (OSError, AttributeError):  # no C library to load, or no prctl in it
        return False


def orphaned(parent_pid: int) -> bool:
    """Whether the process that started this one (`parent_pid`) is gone: this process was
    handed to another parent (init or a subreaper)."""
    return os.getppid() != parent_pid


async def exit_when_orphaned(parent_pid: int, on_orphaned: Callable[[], None], *,
                             interval: float = 1.0) -> None:
    """Return once this process's parent is no longer `parent_pid`, after calling
    `on_orphaned` (which should start the graceful shutdown). Checks every `interval`
    seconds; run it in the nursery of the process's lifetime."""
    while not orphaned(parent_pid):  # noqa: ASYNC110 - no event tells of a new parent
        await trio.sleep(interval)
    log.warning("the parent process %d is gone; shutting down", parent_pid)
    on_orphaned()


async def leave_when_orphaned(parent_pid: int, stop: Callable[[], Awaitable[None]], *,
                              grace: float = 30.0, interval: float = 1.0) -> None:
    """For a process whose server loop offers no graceful trigger of its own (a worker of
    `hypercorn -w N`: only its master can stop it): once the parent is gone, await `stop()`
    (at most `grace` seconds), then end the process with status 0."""
    gone = trio.Event()
    await exit_when_orphaned(parent_pid, gone.set, interval=interval)
    with trio.move_on_after(grace) as bounded:
        await stop()
    if bounded.cancelled_caught:
        log.error("stopping took longer than %g s; exiting anyway", grace)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Nothing is left to wait for this process's loop to end: its master is gone.
    os._exit(0)
