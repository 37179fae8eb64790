"""A periodic sweep that never takes the server down: a failing sweep is logged and tried
again next period; in a deployment of several workers, one worker sweeps for all (it holds
the sweep's job lease)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn

import trio

from .errors import ServiceUnavailable

if TYPE_CHECKING:
    from .cluster.ownership import Ownership


async def sweep_every(period: float, what: str, sweep: Callable[[], Awaitable[str | None]], *,
                      deployment: Ownership | None, log: logging.Logger) -> NoReturn:
    """Call `sweep` every `period` seconds until cancelled; what it returns (if anything)
    is logged as what the sweep did. `what` names it in the log and the job lease."""
    while True:
        await trio.sleep(period)
        try:
            if deployment is not None and not await deployment.hold_job(f"{what} sweeper"):
                continue
            done = await sweep()
        except ServiceUnavailable as exc:  # the store logs its outage once itself
            log.warning("%s sweep skipped (%s); retrying in %.0f s", what, exc, period)
            continue
        except Exception:
            log.exception("%s sweep failed; retrying in %.0f s", what, period)
            continue
        if done:
            log.info("%s sweep: %s", what, done)
