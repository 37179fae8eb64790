"""What the PostgreSQL race, outage and crash tests share: reading a live server's own
database (PostgreSQL or its SQLite file, so an assertion counts rows, not what an API
chooses to show), firing many requests at once, and a TCP proxy a test can cut."""

from __future__ import annotations

import select
import socket
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from contextlib import closing
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import psycopg
import trio

from conftest import LiveServer
from tests.backends import admin_url

T = TypeVar("T")


def rows(server: LiveServer, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """`sql` (`?` placeholders) on the server's database, read as it stands now."""
    url = {**server.defaults, **server.env}.get("POSTGRES_URL")
    if url:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), params)]
    db = server.data_dir / "eliza.db"
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return [tuple(r) for r in conn.execute(sql, params)]


def count(server: LiveServer, sql: str, params: tuple[Any, ...] = ()) -> int:
    return int(rows(server, sql, params)[0][0])


async def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One HTTP request from a trio test (httpx's module functions would block it)."""
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.request(method, url, **kwargs)


async def at_once(n: int, call: Callable[[httpx.AsyncClient, int], Awaitable[T]],
                  *, url: str) -> list[T]:
    """`call(http, i)` for i in range(n), all started together on `n` connections of
    their own (so the server takes them on as many pool connections as it has)."""
    results: list[T | None] = [None] * n
    ready = trio.Event()
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:

        async def one(i: int) -> None:
            await ready.wait()
            results[i] = await call(http, i)

        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(one, i)
            await trio.sleep(0.05)  # every task is parked on `ready`: release them together
            ready.set()
    return [r for r in results if r is not None]


class TcpProxy:
    """A loopback TCP forwarder to `target` in a thread of its own. `cut()` drops every
    forwarded connection and refuses new ones (the database is gone, as far as a client
    can tell); `cut(hold=True)` instead takes new connections and never answers (a
    firewall dropping packets: only a client's timeout ends the wait); `restore()`
    forwards again. Use as a context manager so it always stops."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._peers: dict[socket.socket, socket.socket] = {}
        self._held: list[socket.socket] = []
        self._hold = False
        self._forwarding = True
        self._stop = False
        self._command: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tcp-proxy", daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop = True
        self._thread.join(5)
        for sock in [*self._peers, *self._held]:
            sock.close()
        self._listener.close()

    def route(self, url: str) -> str:
        """`url` (a URL of the target) with this proxy in its place."""
        host, port = self.target
        routed = url.replace(f"@{host}:{port}/", f"@127.0.0.1:{self.port}/", 1)
        assert routed != url, f"{url} does not name {host}:{port}"
        return routed

    def cut(self, *, hold: bool = False) -> None:
        self._run("hold" if hold else "cut")

    def restore(self) -> None:
        self._run("restore")

    def _run(self, command: str) -> None:
        # The serving thread owns the sockets: it carries the command out between selects.
        self._done.clear()
        self._command = command
        if not self._done.wait(5):
            raise RuntimeError(f"the proxy did not {command}")

    def _drop(self, sock: socket.socket) -> None:
        peer = self._peers.pop(sock, None)
        sock.close()
        if peer is not None:
            self._peers.pop(peer, None)
            peer.close()

    def _serve(self) -> None:
        while not self._stop:
            if self._command is not None:
                self._forwarding = self._command == "restore"
                self._hold = self._command == "hold"
                if not self._forwarding:
                    for sock in list(self._peers):
                        self._drop(sock)
                for sock in self._held:
                    sock.close()
                self._held.clear()
                self._command = None
                self._done.set()
            readable, _, _ = select.select([self._listener, *self._peers], [], [], 0.02)
            for sock in readable:
                if sock is self._listener:
                    self._accept()
                elif sock in self._peers:
                    self._forward(sock)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._hold:
            self._held.append(client)
            return
        if not self._forwarding:
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        client.setblocking(True)
        self._peers[client] = upstream
        self._peers[upstream] = client

    def _forward(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
            if data:
                self._peers[sock].sendall(data)
                return
        except OSError:
            pass
        self._drop(sock)


def database_proxy() -> TcpProxy:
    """A proxy (not yet started) to the test PostgreSQL server."""
    parsed = urlsplit(admin_url())
    return TcpProxy(parsed.hostname or "127.0.0.1", parsed.port or 5432)


async def post_until_acknowledged(
    url_for: Callable[[int], str], channel_id: str, user: str, n: int, posts: int,
    acknowledged: dict[str, str], *, request_timeout: float, retry_after: float,
) -> None:
    """Client `n`: post `posts` messages in order, each with its client message id; one the
    server did not acknowledge (it was killed, paused, or not up yet) is sent again with
    the same id, to `url_for(attempt)`. Records key -> stored message id."""
    async with httpx.AsyncClient(timeout=request_timeout) as http:
        attempt = n
        for i in range(posts):
            key = f"{n}-{i}"
            while True:
                attempt += 1
                try:
                    response: httpx.Response | None = await http.post(
                        f"{url_for(attempt)}/api/messaging/channels/{channel_id}/messages",
                        json={"author_id": user, "content": f"client {n} says {i}",
                              "clientMessageId": key})
                except httpx.HTTPError:
                    response = None
                if response is not None and response.status_code == 201:
                    acknowledged[key] = response.json()["userMessage"]["id"]
                    break
                await trio.sleep(retry_after)
