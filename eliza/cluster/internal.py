"""This worker's part in a deployment of several: the internal listener where the other
workers carry requests to it, and the carrying of the requests it gets for theirs (an
Engine.IO session another worker holds, an agent another worker runs).

Engine.IO session ids name the worker that holds them (`<worker id>.<random>`, URL-safe), so
any worker can tell where a polling request or a websocket upgrade belongs without asking
anyone; the worker directory gives that worker's internal address.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Final

import httpx
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Quart, Response, current_app, request

from ..errors import RunsElsewhere, ServiceUnavailable
from ..realtime.engine_errors import EngineError, error_body
from ..realtime.engineio import EngineServer
from ..realtime.socketio import SocketIOServer
from ..security.middleware import ADMITTED_ELSEWHERE
from .forward import (
    Canned,
    Carrier,
    answer_headers,
    carried_headers,
    is_carried,
    peer_of,
    target_of,
)
from .settings import ClusterSettings
from .workers import WorkerDirectory

log = logging.getLogger(__name__)

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

# Where the running carrier is kept on the app (for the RunsElsewhere error handler).
CARRIER_CONFIG: Final = "ELIZA_CARRIER"
SESSION_SEPARATOR: Final = "."
# Above the carrier's keep-alive expiry: the carrier lets go of an idle connection first.
INTERNAL_KEEP_ALIVE: Final = 60.0
_WILDCARDS: Final = frozenset({"", "0.0.0.0", "::"})



def session_prefix(worker_id: str) -> str:
    return worker_id + SESSION_SEPARATOR


def worker_of(sid: str) -> str | None:
    """The worker an Engine.IO session id names (None for an id that names none)."""
    worker, separator, rest = sid.partition(SESSION_SEPARATOR)
    return worker if separator and worker and rest else None


class EngineRelay:
    """Carries Engine.IO requests (polls, posts, websocket upgrades) to the worker that
    holds their session (`transports.SessionRelay`)."""

    def __init__(self, carrier: Carrier, engine: EngineServer) -> None:
        self.carrier = carrier
        # A poll is answered within a ping interval (a ping at the latest); the rest is slack.
        self.poll_deadline = engine.ping_interval + engine.ping_timeout
        # The client reconnects on this answer, as for any session that ended.
        self.unknown = Canned(400, [(b"content-type", b"application/json")],
                              error_body(EngineError.UNKNOWN_SID).encode())

    async def carry(self, sid: str, scope: Any, receive: Any, send: Any) -> bool:
        worker = worker_of(sid)
        if worker is None or worker == self.carrier.worker_id or is_carried(scope["headers"]):
            return False
        if scope["type"] == "websocket":
            return await self.carrier.carry_websocket(worker, scope, receive, send,
                                                      failed=self.unknown)
        return await self.carrier.carry_http(worker, scope, receive, send,
                                             deadline=self.poll_deadline, failed=self.unknown)


async def serve_cluster(app: Quart, *, directory: WorkerDirectory, sio: SocketIOServer,
                        send_timeout: float,
                        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Until cancelled: requests for the other workers' sessions and agents are carried to
    them, and the internal listener serves `app` to the requests they carry here."""
    async with Carrier(directory, send_timeout=send_timeout) as carrier:
        sio.serve_across(session_prefix(directory.identity.id), EngineRelay(carrier, sio.engine))
        app.config[CARRIER_CONFIG] = carrier
        try:
            async with trio.open_nursery() as nursery:
                url: str = await nursery.start(serve_internal, app, directory.settings)
                directory.advertise(url)
                # Sessions this worker opens are found by the others from the start.
                with trio.move_on_after(directory.settings.lease_seconds):
                    await directory.wait_registered()
                log.info("worker %s takes carried requests at %s", directory.identity.id, url)
                task_status.started()
        finally:
            sio.serve_across(session_prefix(directory.identity.id), None)
            app.config.pop(CARRIER_CONFIG, None)


async def serve_internal(app: ASGIApp, settings: ClusterSettings, *,
                         task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve `app` (without its lifespan, which the main listener runs) on the internal
    host and port until cancelled; reports the URL the other workers reach it at."""
    config = Config()
    config.bind = [_bind(settings.internal_host, settings.internal_port)]
    config.keep_alive_timeout = INTERNAL_KEEP_ALIVE
    config.accesslog = None
    # Its errors, not hypercorn's "Running on ... (CTRL + C to quit)" (this module says it).
    config.errorlog = logging.getLogger(__name__ + ".listener")
    config.errorlog.setLevel(logging.WARNING)
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(serve, _internal(app), config)
        port = int(binds[0].rsplit(":", 1)[1])
        host = settings.advertise_host or settings.internal_host
        if host in _WILDCARDS:
            host = socket.gethostname()
        task_status.started(f"http://{_url_host(host)}:{port}")


async def carry_to_worker(elsewhere: RunsElsewhere, *, deadline: float, retry_after: float
                          ) -> Response:
    """The answer of the worker running `elsewhere.agent_id` to the current request (the
    app's handler of RunsElsewhere); raises ServiceUnavailable (503) when it cannot answer.

    The body is carried as the route left it: a route that streams its body must find the
    agent before reading it (a body already read cannot be carried, and is refused here)."""
    agent, worker = elsewhere.agent_id, elsewhere.worker_id

    def unavailable(message: str) -> ServiceUnavailable:
        return ServiceUnavailable(message, code="WORKER_UNAVAILABLE",
                                  details={"agentId": agent, "workerId": worker},
                                  headers={"Retry-After": str(math.ceil(retry_after))})

    carrier = current_app.config.get(CARRIER_CONFIG)
    scope = request.scope
    if not isinstance(carrier, Carrier):
        raise unavailable(f"Agent {agent} runs on another worker, which this one cannot reach")
    if is_carried(scope["headers"]) or worker == carrier.worker_id:
        raise unavailable(f"Agent {agent} is moving between workers: retry in a moment")
    base = await carrier.directory.lookup(worker)
    if base is None:
        raise unavailable(f"Agent {agent} runs on a worker that has stopped: retry once "
                          "another worker has taken it over")
    data = await request.get_data()
    if request.content_length is not None and request.content_length != len(data):
        log.error("%s %s read its body before finding that agent %s runs on worker %s: it "
                  "cannot be carried", request.method, request.path, agent, worker)
        raise unavailable(f"Agent {agent} runs on another worker, and this request could not "
                          "be carried to it")
    outgoing = carrier.client.build_request(
        request.method, base + target_of(scope),
        headers=carried_headers(scope["headers"], peer_of(scope), carrier.worker_id,
                                drop=frozenset({b"content-length"})),
        content=data, timeout=carrier.timeout(deadline))
    try:
        response = await carrier.open(worker, outgoing, deadline)
    except (httpx.TransportError, trio.TooSlowError) as exc:
        log.warning("worker %s failed a request carried for agent %s (%r)", worker, agent, exc)
        raise unavailable(f"The worker running agent {agent} did not answer: retry in a "
                          "moment") from None
    if response is None:
        raise unavailable(f"The worker running agent {agent} cannot be reached: retry once "
                          "another worker has taken it over")
    answer = Response(_Answer(response), status=response.status_code)
    answer.headers.clear()  # the other worker's, as it sent them (Quart's defaults out)
    for name, value in answer_headers(response.headers.raw):
        answer.headers.add(name.decode("latin-1"), value.decode("latin-1"))
    answer.timeout = None  # the carried answer streams under the carrier's bounds
    return answer


class _Answer:
    """The body of the other worker's answer, for Quart to send (closed however it ends)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks = response.aiter_raw()

    def __aiter__(self) -> _Answer:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        await self._response.aclose()


def _internal(app: ASGIApp) -> ASGIApp:
    """`app` as the internal listener serves it: without its lifespan (the main listener
    runs it), and with the requests carried from other workers marked as admitted there
    (their rate limits were counted where the client came in)."""
    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            if is_carried(scope["headers"]):
                scope = {**scope, ADMITTED_ELSEWHERE: True}
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    return asgi_app


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _bind(host: str, port: int) -> str:
    return f"{_url_host(host)}:{port}"
