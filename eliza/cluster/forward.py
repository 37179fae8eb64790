"""Carrying a request to the worker that must answer it (the one holding its Engine.IO
session, or running its agent), over that worker's internal listener.

What is carried: the method, path, query, headers (authentication included, the client's
Host kept so origin checks read the same) and body, plus `X-Forwarded-For` extended with the
peer this worker saw and `X-Eliza-Carried-By` naming this worker. A request that already
carries that header is never carried again: a worker that receives one answers it itself.

Bodies are streamed one piece at a time in both directions (nothing is held whole); the
answer's head must arrive within a deadline, every piece after it within the same bound.
A websocket is carried as a pair of websockets, messages and close codes passed both ways.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, HandshakeError, wrap_client_stream

from ..realtime._hypercorn_direct import connection_closer
from ..stalls import WriteGuard
from .workers import WorkerDirectory

log = logging.getLogger(__name__)

HOP_HEADER: Final = b"x-eliza-carried-by"
CONNECT_TIMEOUT: Final = 3.0
# Connections to the other workers (long polls hold one each for up to a ping interval).
MAX_CONNECTIONS: Final = 1024
# Below the internal listener's keep-alive timeout, so a kept connection is never one the
# other side is closing.
KEEPALIVE_EXPIRY: Final = 20.0
# The largest message of a carried websocket, either way (hypercorn's own default bound):
# the workers at both ends apply their own limits.
WEBSOCKET_MAX_MESSAGE: Final = 16 * 1024 * 1024
# How long closing a carried websocket may wait for the other worker's close frame.
CLOSE_TIMEOUT: Final = 2.0
# Headers about one connection, not the request, and those the
# server sending the answer adds itself.
_HOP_BY_HOP: Final = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"proxy-authenticate",
    b"proxy-authorization", b"te", b"trailer", b"transfer-encoding", b"upgrade",
})
_SERVER_ADDS: Final = frozenset({b"date", b"server"})
# A websocket handshake's own headers (trio-websocket writes them for the second hop).
_HANDSHAKE: Final = frozenset({
    b"host", b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
    b"sec-websocket-protocol", b"content-length",
})

Headers = list[tuple[bytes, bytes]]
Message = MutableMapping[str, Any]


@dataclass(frozen=True)
class Canned:
    """A whole HTTP answer, for when the other worker fails after the request was read."""

    status: int
    headers: Headers
    body: bytes


def is_carried(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request (its ASGI headers) was carried here by another worker."""
    return any(name.lower() == HOP_HEADER for name, _ in headers)


def carried_headers(headers: Iterable[tuple[bytes, bytes]], peer: str | None, worker_id: str,
                    *, drop: frozenset[bytes] = frozenset()) -> Headers:
    """A request's headers for the next hop: connection headers (and `drop`) left out,
    `X-Forwarded-For` extended with `peer`, this worker's hop marker added."""
    headers = [(name.lower(), value) for name, value in headers]
    named = {token.strip().lower() for name, value in headers if name == b"connection"
             for token in value.split(b",")}
    skip = _HOP_BY_HOP | named | drop | {HOP_HEADER, b"x-forwarded-for"}
    out = [(name, value) for name, value in headers if name not in skip]
    chain = [value for name, value in headers if name == b"x-forwarded-for"]
    if peer:
        chain.append(peer.encode("latin-1"))
    if chain:
        out.append((b"x-forwarded-for", b", ".join(chain)))
    out.append((HOP_HEADER, worker_id.encode()))
    return out


def answer_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """An answer's headers as this worker passes them on. `Connection: close` is kept: the
    other worker may not have read the whole body, which this one then did not either."""
    out = []
    for name, value in headers:
        name = name.lower()
        if name == b"connection" and b"close" in value.lower():
            out.append((b"connection", b"close"))
        elif name not in _HOP_BY_HOP and name not in _SERVER_ADDS:
            out.append((name, value))
    return out


def peer_of(scope: Any) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def target_of(scope: Any) -> str:
    """The path and query of an ASGI request, as the client sent them."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else quote(scope["path"])
    query = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


class _RequestBody:
    """An ASGI request body read one message at a time, for httpx to stream onwards."""

    def __init__(self, receive: Any) -> None:
        self._receive = receive
        self.started = False
        self.done = trio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        while not self.done.is_set():
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            if not message.get("more_body", False):
                self.done.set()
            if message.get("body"):
                yield message["body"]


class ClientGone(Exception):
    """The client went away while its request was being carried."""


class Carrier:
    """Carries requests to the other workers (enter it to open its connection pool)."""

    def __init__(self, directory: WorkerDirectory, *, send_timeout: float) -> None:
        self.directory = directory
        self.worker_id = directory.identity.id
        self.send_timeout = send_timeout
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Carrier:
        self._client = httpx.AsyncClient(
            # The other workers are reached directly, whatever proxy the environment names.
            trust_env=False, follow_redirects=False,
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS,
                                max_keepalive_connections=MAX_CONNECTIONS,
                                keepalive_expiry=KEEPALIVE_EXPIRY))
        return self

    async def __aexit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            with trio.CancelScope(shield=True):
                await client.aclose()

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("the carrier is not open")
        return self._client

    def timeout(self, deadline: float) -> httpx.Timeout:
        """Connecting is quick or the worker is gone; the answer may take `deadline`."""
        return httpx.Timeout(connect=CONNECT_TIMEOUT, pool=CONNECT_TIMEOUT,
                             write=self.send_timeout, read=deadline)

    async def open(self, worker_id: str, request: httpx.Request, deadline: float
                   ) -> httpx.Response | None:
        """Send `request`; the answer with its body still to read, or None when the worker
        could not be reached (nothing of the request was sent). Other failures raise
        httpx.TransportError or trio.TooSlowError."""
        try:
            with trio.fail_after(CONNECT_TIMEOUT + deadline):
                return await self.client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            log.info("worker %s cannot be reached (%r)", worker_id, exc)
            self.directory.forget(worker_id)
            return None

    # -- plain ASGI (the Engine.IO transports) ---------------------------------------------

    async def carry_http(self, worker_id: str, scope: Message, receive: Any, send: Any, *,
                         deadline: float, failed: Canned) -> bool:
        """Carry an ASGI HTTP request to worker `worker_id` and send its answer. False when
        the worker is not live or cannot be reached, before anything of the request was
        read; if it fails after that, the client gets `failed`."""
        base = await self.directory.lookup(worker_id)
        if base is None:
            return False
        body = _RequestBody(receive)
        names = {name.lower() for name, _ in scope["headers"]}
        streamed = b"content-length" in names or b"transfer-encoding" in names
        if not streamed:
            body.done.set()
        request = self.client.build_request(
            scope["method"], base + target_of(scope),
            headers=carried_headers(scope["headers"], peer_of(scope), self.worker_id),
            content=body if streamed else None, timeout=self.timeout(deadline))
        reached = True
        async with trio.open_nursery() as nursery:

            async def watch_client() -> None:
                # A client that leaves ends the carried request too (a long poll especially).
                await body.done.wait()
                while (await receive())["type"] != "http.disconnect":
                    pass
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_client)
            response: httpx.Response | None = None
            try:
                response = await self.open(worker_id, request, deadline)
                if response is None:
                    reached = False
                else:
                    await self._send_answer(response, send)
            except ClientGone:
                pass
            except (httpx.TransportError, trio.TooSlowError) as exc:
                if response is not None:
                    log.info("worker %s: carried answer cut short (%r)", worker_id, exc)
                else:
                    log.info("worker %s failed a carried request (%r)", worker_id, exc)
                    await _send_canned(send, failed)
            finally:
                nursery.cancel_scope.cancel()
        if reached:
            return True
        if body.started:  # httpx reads the body only once connected: never seen, but covered
            await _send_canned(send, failed)
            return True
        return False

    async def _send_answer(self, response: httpx.Response, send: Any) -> None:
        try:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": answer_headers(response.headers.raw)})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            with trio.CancelScope(shield=True):
                await response.aclose()

    async def carry_websocket(self, worker_id: str, scope: Message, receive: Any, send: Any,
                              *, failed: Canned) -> bool:
        """Carry an ASGI websocket to worker `worker_id`: its handshake, then messages both
        ways until either side closes (with its close code). False when the worker is not
        live or cannot be reached (nothing of the websocket was read)."""
        base = await self.directory.lookup(worker_id)
        if base is None:
            return False
        address = urlsplit(base)
        try:
            with trio.fail_after(CONNECT_TIMEOUT):
                stream = await trio.open_tcp_stream(address.hostname or "", address.port or 80)
        except (OSError, trio.TooSlowError) as exc:
            log.info("worker %s cannot be reached (%r)", worker_id, exc)
            self.directory.forget(worker_id)
            return False
        async with stream:
            if (await receive())["type"] != "websocket.connect":
                return True
            host = dict(scope["headers"]).get(b"host", address.netloc.encode()).decode("latin-1")
            headers = carried_headers(scope["headers"], peer_of(scope), self.worker_id,
                                      drop=_HANDSHAKE)
            accepted = False
            try:
                async with trio.open_nursery() as nursery:
                    with trio.fail_after(CONNECT_TIMEOUT):
                        peer = await wrap_client_stream(
                            nursery, stream, host, target_of(scope),
                            subprotocols=scope.get("subprotocols") or None,
                            extra_headers=headers, max_message_size=WEBSOCKET_MAX_MESSAGE)
                    if peer.closed is not None:
                        raise HandshakeError(f"closed during the handshake: {peer.closed}")
                    await send({"type": "websocket.accept", "subprotocol": peer.subprotocol})
                    accepted = True
                    await self._pump(peer, receive, send)
                    nursery.cancel_scope.cancel()
            except* ConnectionRejected as group:
                rejected = group.exceptions[0]
                assert isinstance(rejected, ConnectionRejected)
                await _reject(scope, send, Canned(rejected.status_code,
                                                  answer_headers(rejected.headers),
                                                  rejected.body or b""))
            except* (HandshakeError, trio.TooSlowError, OSError, trio.BrokenResourceError) as group:
                log.info("worker %s failed a carried websocket (%r)", worker_id,
                         group.exceptions[0])
                if accepted:
                    await send({"type": "websocket.close", "code": 1011})
                else:
                    await _reject(scope, send, failed)
        return True

    async def _pump(self, peer: Any, receive: Any, send: Any) -> None:
        guard = WriteGuard(self.send_timeout, connection_closer(send))
        async with trio.open_nursery() as nursery:

            async def to_peer() -> None:
                while True:
                    message = await receive()
                    if message["type"] == "websocket.disconnect":
                        with trio.move_on_after(CLOSE_TIMEOUT):
                            await peer.aclose(_sendable(message.get("code", 1000)))
                        break
                    data = message.get("text")
                    if data is None:
                        data = message.get("bytes") or b""
                    try:
                        with trio.fail_after(self.send_timeout):
                            await peer.send_message(data)
                    except (ConnectionClosed, trio.TooSlowError):
                        break  # to_client tells the client why, or the pump ends
                nursery.cancel_scope.cancel()

            nursery.start_soon(to_peer)
            while True:
                try:
                    data = await peer.get_message()
                except ConnectionClosed as closed:
                    reason = closed.reason
                    code = _sendable(reason.code) if reason is not None else 1011
                    with guard.writing():
                        await send({"type": "websocket.close", "code": code,
                                    "reason": (reason.reason if reason else None) or ""})
                    break
                key = "text" if isinstance(data, str) else "bytes"
                with guard.writing():
                    await send({"type": "websocket.send", key: data})
            nursery.cancel_scope.cancel()


def _sendable(code: int) -> int:
    """A close code as a close frame may carry it (1005, 1006 and 1015 only describe)."""
    if code == 1005:
        return 1000
    if code in (1006, 1015):
        return 1011
    return code


async def _send_canned(send: Any, answer: Canned) -> None:
    await send({"type": "http.response.start", "status": answer.status,
                "headers": answer.headers})
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})


async def _reject(scope: Message, send: Any, answer: Canned) -> None:
    """Refuse a websocket with an HTTP answer where the server can send one."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": answer.status,
                    "headers": answer.headers})
        await send({"type": "websocket.http.response.body", "body": answer.body})
    else:
        await send({"type": "websocket.close", "code": 1008})
