"""Settings of a deployment that outgrows one process: the bus shared by the workers, the
agents' leases, how workers reach each other, and which proxies may name a client's address."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

BUSES = ("memory", "postgres", "redis")

Getter = Callable[[str], "str | None"]


class ClusterSettingsError(ValueError):
    """A deployment setting that cannot be used (the message names it)."""


@dataclass(frozen=True)
class ClusterSettings:
    # memory: one process; postgres: LISTEN/NOTIFY on POSTGRES_URL; redis: Streams at REDIS_URL.
    bus: str = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # An agent's owner renews its lease well within this; a worker that stops renewing loses
    # its agents to the others once it runs out (seconds).
    lease_seconds: float = 6.0
    # Workers started by `eliza serve` (each a trio process on the same port).
    workers: int = 1
    # After SIGTERM, how long the supervisor gives a worker to drain before it kills it
    # (seconds); a worker's own drain takes at most about 5 s.
    stop_timeout: float = 30.0
    # Where this worker listens for requests other workers carry to it (a polling session or
    # an agent it runs), and the host name the others use to reach it.
    internal_host: str = "127.0.0.1"
    internal_port: int = 0
    advertise_host: str | None = None
    # Peers whose X-Forwarded-For names the client (addresses or networks).
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @property
    def shared(self) -> bool:
        """Whether the bus reaches other processes (so several workers can serve)."""
        return self.bus != "memory"

    @classmethod
    def from_env(cls, get: Getter, database_url: str | None) -> ClusterSettings:
        bus = (get("ELIZA_BUS") or ("postgres" if database_url else "memory")).lower()
        if bus not in BUSES:
            raise ClusterSettingsError(f"ELIZA_BUS must be one of {', '.join(BUSES)}: {bus!r}")
        if bus != "memory" and not database_url:
            raise ClusterSettingsError(
                f"ELIZA_BUS={bus} shares the server between processes, which needs a shared "
                "database: set POSTGRES_URL (SQLite serves one process)")
        lease = _number(get, "ELIZA_LEASE_SECONDS", 6.0)
        if not 1.0 <= lease <= 60.0:
            raise ClusterSettingsError(f"ELIZA_LEASE_SECONDS must be between 1 and 60: {lease}")
        workers = int(_number(get, "ELIZA_WORKERS", 1))
        if workers < 1:
            raise ClusterSettingsError(f"ELIZA_WORKERS must be at least 1: {workers}")
        stop_timeout = _number(get, "ELIZA_STOP_TIMEOUT", 30.0)
        if not 1.0 <= stop_timeout <= 3600.0:
            raise ClusterSettingsError(
                f"ELIZA_STOP_TIMEOUT must be between 1 and 3600: {stop_timeout:g}")
        internal_host = get("ELIZA_INTERNAL_HOST") or "127.0.0.1"
        return cls(
            bus=bus,
            redis_url=get("REDIS_URL") or cls.redis_url,
            lease_seconds=lease,
            workers=workers,
            stop_timeout=stop_timeout,
            internal_host=internal_host,
            internal_port=int(_number(get, "ELIZA_INTERNAL_PORT", 0)),
            advertise_host=get("ELIZA_ADVERTISE_HOST"),
            trusted_proxies=parse_networks(get("ELIZA_TRUSTED_PROXIES") or ""),
        )


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """`10.0.0.1, 10.1.0.0/16, ::1` as networks (an address is a network of one)."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ClusterSettingsError(
                f"ELIZA_TRUSTED_PROXIES: not an address or network: {part!r}") from None
    return tuple(out)


def _number(get: Getter, name: str, default: float) -> float:
    text = get(name)
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        raise ClusterSettingsError(f"{name} is not a number: {text!r}") from None
