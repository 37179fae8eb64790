"""Two server processes on one PostgreSQL schema (two workers of a deployment) share their
rate limits: hammered together or in turn, they accept the limit within 10%, not twice it,
and every 429 carries the RateLimit-* headers and Retry-After. Behind a trusted proxy the
client is the one X-Forwarded-For names; from any other peer the header is ignored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from tests.backends import own_schema

from .deployment import LimitedServer, data_dir, running, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]

LIMIT = 40
WINDOW = 3600
PATHS = ("/api/server/ping", "/api/nope")  # the ASGI fast path, and Quart's pipeline


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[LimitedServer]]:
    with own_schema("rate") as (_, url):
        env = worker_env(url, TEST_API_RATE_LIMIT=f"{LIMIT}/{WINDOW}",
                         ELIZA_TRUSTED_PROXIES="127.0.0.1")
        servers = [LimitedServer(data_dir(tmp_path, f"w{i}"), dict(env)) for i in range(2)]
        with running(servers):
            yield servers


async def inside_one_window() -> None:
    """The windows are aligned to the wall clock: keep a test from straddling two."""
    left = WINDOW - time.time() % WINDOW
    if left < 15:
        await trio.sleep(left + 0.5)


def from_client(address: str) -> dict[str, str]:
    """What a trusted proxy on 127.0.0.1 adds for a request from `address`."""
    return {"X-Forwarded-For": address}


def assert_refusal_headers(response: httpx.Response) -> None:
    assert response.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert response.headers["RateLimit-Limit"] == str(LIMIT)
    assert response.headers["RateLimit-Policy"] == f"{LIMIT};w={WINDOW}"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert 0 < int(response.headers["Retry-After"]) <= WINDOW
    assert response.headers["RateLimit-Reset"] == response.headers["Retry-After"]


def assert_near_limit(accepted: int, what: str) -> None:
    assert abs(accepted - LIMIT) <= LIMIT // 10, f"{what}: {accepted} accepted, limit {LIMIT}"


async def test_workers_hammered_at_once_accept_the_limit_once(
        workers: list[LimitedServer]) -> None:
    await inside_one_window()
    sent = 0
    statuses: list[int] = []
    refusals: list[httpx.Response] = []

    async def hammer(server: LimitedServer, path: str) -> None:
        nonlocal sent
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            while sent < 3 * LIMIT:
                sent += 1
                response = await http.get(path, headers=from_client("203.0.113.1"))
                statuses.append(response.status_code)
                if response.status_code == 429:
                    refusals.append(response)

    async with trio.open_nursery() as nursery:
        for server in workers:
            for path in PATHS:
                for _ in range(2):
                    nursery.start_soon(hammer, server, path)
    assert len(statuses) == 3 * LIMIT
    assert_near_limit(sum(1 for s in statuses if s != 429), "hammered at once")
    assert len(refusals) >= LIMIT
    for response in refusals:
        assert_refusal_headers(response)


async def test_workers_taking_turns_accept_the_limit_once(
        workers: list[LimitedServer]) -> None:
    await inside_one_window()
    accepted = 0
    async with httpx.AsyncClient(timeout=30) as http:
        for i in range(2 * LIMIT):
            server = workers[i % 2]
            response = await http.get(f"{server.url}{PATHS[i // 2 % 2]}",
                                      headers=from_client("203.0.113.2"))
            if response.status_code == 429:
                assert_refusal_headers(response)
            else:
                accepted += 1
                assert int(response.headers["RateLimit-Remaining"]) < LIMIT
    assert_near_limit(accepted, "taking turns")
    # The other worker refuses the same client too, on either path.
    for server in workers:
        for path in PATHS:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                refused = await http.get(path, headers=from_client("203.0.113.2"))
            assert refused.status_code == 429
            assert_refusal_headers(refused)


async def test_forwarded_for_names_the_client_only_from_a_trusted_proxy(
        workers: list[LimitedServer]) -> None:
    await inside_one_window()
    url = workers[0].url

    async def remaining(forwarded: str, source: str = "127.0.0.1") -> int:
        transport = httpx.AsyncHTTPTransport(local_address=source)
        async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as http:
            response = await http.get("/api/server/ping", headers=from_client(forwarded))
        assert response.status_code == 200, response.text
        return int(response.headers["RateLimit-Remaining"])

    # 127.0.0.2 is not a trusted proxy: whatever it forwards, it is the client.
    assert await remaining("198.51.100.7", source="127.0.0.2") == LIMIT - 1
    assert await remaining("198.51.100.8", source="127.0.0.2") == LIMIT - 2
    # From the trusted proxy, the forwarded client has a budget of its own...
    assert await remaining("198.51.100.7") == LIMIT - 1
    assert await remaining("198.51.100.7") == LIMIT - 2
    # ... and a client cannot pass for another by writing the header itself: the proxy
    # appends the address it saw, the right-most hop it does not trust is the client.
    assert await remaining("198.51.100.7, 198.51.100.9") == LIMIT - 1
