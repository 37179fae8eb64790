"""Which browser pages may drive the server, and which Host names it answers.

The server has no cookies: a browser's request carries no credential of its own, so what
stops a foreign web page from using a local server is (a) the Origin check, which refuses a
cross-origin request that changes state even when it skipped the CORS preflight (a
`text/plain` or form POST), and (b) the Host check, which refuses a request for a name the
server does not answer to (DNS rebinding: `evil.example` resolving to 127.0.0.1 makes the
attacker's page same-origin with the server, but its requests say `Host: evil.example`).

Pure functions of header values: the Quart hooks, the ASGI fast path and the Engine.IO
transports all call these, so every path applies one rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}
LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})
# Sec-Fetch-Site values that show a browser request from another page than the server's.
FOREIGN_FETCH_SITES: Final = frozenset({"cross-site", "same-site"})
EXPOSE_HEADERS: Final = (
    "X-Total-Count,RateLimit-Limit,RateLimit-Remaining,RateLimit-Reset,Retry-After"
)
CROSS_ORIGIN_HINT: Final = "set CORS_ORIGIN to allow an origin"


def normalize_origin(text: str) -> str | None:
    """`scheme://host[:port]`, lower-case, the default port dropped; None if not an origin
    (`null`, a path, no host)."""
    try:
        parts = urlsplit(text.strip().rstrip("/"))
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not scheme or not host or parts.path or parts.query or parts.username:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def split_host(header: str) -> tuple[str, int | None] | None:
    """A Host header as (lower-case name without brackets, port or None); None if malformed."""
    text = header.strip().lower()
    try:
        parts = urlsplit("//" + text)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not host or parts.path or parts.username or parts.password is not None:
        return None
    return host, port


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class OriginPolicy:
    """The CORS_ORIGIN list: which foreign origins may read answers and change state.

    Unset, only the server's own origin may (a same-origin request needs no CORS header).
    `*` admits every origin, without credentials (the server uses none anyway).
    """

    def __init__(self, cors_origin: str | None) -> None:
        entries = [e.strip() for e in (cors_origin or "").split(",") if e.strip()]
        self.allow_any = "*" in entries
        self.origins = frozenset(
            o for o in (normalize_origin(e) for e in entries if e != "*") if o is not None
        )
        self.configured = bool(entries)

    def listed(self, origin: str) -> bool:
        normal = normalize_origin(origin)
        return normal is not None and normal in self.origins

    def refusal(self, origin: str | None, fetch_site: str | None, host: str | None) -> str | None:
        """Why a browser request from another page is refused, or None when it may go on.

        No Origin and no foreign Sec-Fetch-Site: not a cross-site browser request (curl, the
        SDKs, a navigation typed by the user), let through.
        """
        if origin is None:
            if fetch_site is not None and fetch_site.strip().lower() in FOREIGN_FETCH_SITES:
                return ("Cross-origin request refused: the browser marked it "
                        f"Sec-Fetch-Site: {fetch_site.strip()} and sent no Origin; "
                        f"{CROSS_ORIGIN_HINT}")
            return None
        if self.allow_any or self.listed(origin) or _same_origin(origin, host):
            return None
        return (f"Cross-origin request refused: origin {origin[:200]!r} is not this server's "
                f"and not in CORS_ORIGIN; {CROSS_ORIGIN_HINT}")

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        """The CORS answer headers for a request's Origin (none for an origin not listed)."""
        headers: dict[str, str] = {"Vary": "Origin"} if self.origins else {}
        if origin is not None and self.listed(origin):
            headers.update({"Access-Control-Allow-Origin": origin,
                            "Access-Control-Allow-Credentials": "true",
                            "Access-Control-Expose-Headers": EXPOSE_HEADERS})
        elif self.allow_any:
            headers.update({"Access-Control-Allow-Origin": "*",
                            "Access-Control-Expose-Headers": EXPOSE_HEADERS})
        return headers


def _same_origin(origin: str, host: str | None) -> bool:
    """Whether Origin names the host and port the request was sent to (its Host header).
    The scheme is not compared: behind a TLS proxy the request arrives as plain HTTP."""
    normal = normalize_origin(origin)
    if normal is None or host is None:
        return False
    parts = urlsplit(normal)
    target = split_host(host)
    if target is None or parts.hostname is None:
        return False
    default = DEFAULT_PORTS.get(parts.scheme)
    return (parts.hostname, parts.port or default) == (target[0], target[1] or default)


class HostPolicy:
    """The DNS-rebinding check, applied while auth is off (with an API key, the key admits a
    client and a rebound page does not have it).

    Allowed: loopback names (and `*.localhost`), IP literals (a name must be resolved to be
    rebound, an address cannot; this covers the address the connection reached, whatever
    the server binds), SERVER_HOST, and ELIZA_ALLOWED_HOSTS (`*.example.com` for
    subdomains, `*` for any name).
    """

    def __init__(self, *, enabled: bool, bind_host: str, allowed: Iterable[str]) -> None:
        names = {a.strip().lower() for a in allowed if a.strip()}
        self.enabled = enabled and "*" not in names
        self.suffixes = tuple(n[1:] for n in names if n.startswith("*."))
        self.names = frozenset(
            {n for n in names if not n.startswith("*.")} | {bind_host.strip("[]").lower()}
        )

    def refusal(self, host: str | None) -> str | None:
        """Why a request naming `host` is refused, or None. No Host header: not a browser
        (browsers always send one), let through."""
        if not self.enabled or host is None:
            return None
        parts = split_host(host)
        name = parts[0] if parts else ""
        if name and (
            name in LOOPBACK_NAMES or name.endswith(".localhost") or is_ip_literal(name)
            or name in self.names or name.endswith(self.suffixes)
        ):
            return None
        return (f"Host {host[:200]!r} refused: this server does not answer to that name "
                "(DNS rebinding protection while ELIZA_SERVER_AUTH_TOKEN is unset); "
                "add it to ELIZA_ALLOWED_HOSTS")
