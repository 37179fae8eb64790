"""The tests' one wait-with-a-deadline helper: it hands back what it waited for, and a timeout
says what never happened and what it saw last."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from tests.polling import wait_until, wait_until_sync


async def test_returns_the_first_truthy_value_of_a_sync_or_async_check() -> None:
    seen: list[int] = []

    def grows() -> list[int] | None:
        seen.append(len(seen))
        return list(seen) if len(seen) >= 3 else None

    async def async_check() -> str:
        return "ready"

    assert await wait_until(grows, interval=0) == [0, 1, 2]
    assert await wait_until(async_check) == "ready"


async def test_a_timeout_names_the_wait_and_the_last_value(autojump_clock: MockClock) -> None:
    # Virtual time: the 30 s deadline passes at once.
    started = trio.current_time()
    with pytest.raises(AssertionError, match=r"30 s waiting for the answer \(last: \[\]\)"):
        await wait_until(lambda: [], within=30, message=lambda: "the answer")
    assert trio.current_time() - started == pytest.approx(30)


def test_the_sync_twin_treats_ignored_errors_as_not_yet() -> None:
    calls = [0]

    def flaky() -> str:
        calls[0] += 1
        if calls[0] < 3:
            raise ConnectionError("not up yet")
        return "up"

    def down() -> str:
        raise ConnectionError("down")

    assert wait_until_sync(flaky, interval=0, ignoring=(ConnectionError,)) == "up"
    with pytest.raises(AssertionError, match=r"the server \(last: ConnectionError\('down'\)\)"):
        wait_until_sync(down, within=0.05, interval=0.01, message="the server",
                        ignoring=(ConnectionError,))
    with pytest.raises(ConnectionError):  # any other error is a failure at once
        wait_until_sync(down, within=30)
