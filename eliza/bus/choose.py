"""`bus_for`: the bus `ELIZA_BUS` names (memory, postgres or redis), built from the settings.

The transports import their drivers only when chosen, so a single-process server never
loads psycopg or coredis for its bus."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .local import InProcessBus

if TYPE_CHECKING:
    from . import MessageBus

# The bus's own statements are tiny: one that takes longer than this means trouble.
BUS_STATEMENT_TIMEOUT = 10.0


class ClusterBusSettings(Protocol):
    @property
    def bus(self) -> str: ...
    @property
    def redis_url(self) -> str: ...


class BusSettings(Protocol):
    """What `bus_for` reads of `eliza.settings.Settings`."""

    @property
    def cluster(self) -> ClusterBusSettings: ...
    @property
    def database_url(self) -> str | None: ...
    @property
    def postgres_connect_timeout(self) -> float: ...
    @property
    def postgres_statement_timeout(self) -> float: ...


def bus_for(settings: BusSettings, worker_id: str) -> MessageBus:
    """memory: an `InProcessBus`; postgres: LISTEN/NOTIFY on the database's URL; redis:
    Streams at `REDIS_URL`. `worker_id` tells this worker's frames from the others'."""
    kind = settings.cluster.bus
    if kind == "memory":
        return InProcessBus()
    from .shared import SharedBus

    if kind == "postgres":
        if not settings.database_url:
            raise ValueError("ELIZA_BUS=postgres needs POSTGRES_URL")
        from .postgres import PostgresTransport

        pg = PostgresTransport(
            settings.database_url, connect_timeout=settings.postgres_connect_timeout,
            statement_timeout=min(settings.postgres_statement_timeout, BUS_STATEMENT_TIMEOUT))
        return SharedBus(pg, worker_id,
                         startup_timeout=max(15.0, 2 * settings.postgres_connect_timeout))
    if kind == "redis":
        from .redis import RedisTransport

        return SharedBus(RedisTransport(settings.cluster.redis_url), worker_id)
    raise ValueError(f"unknown bus {kind!r}: memory, postgres or redis")
