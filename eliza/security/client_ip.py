"""The address of the client a request comes from: the peer's, unless the peer is a proxy
the deployment trusts (ELIZA_TRUSTED_PROXIES), whose X-Forwarded-For names the client.

Each proxy appends the address it received the request from, so the list reads client
first, nearest proxy last; anything left of a hop we do not trust may be made up by the
client. The client is therefore the right-most address that is not a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"


def parse_address(text: str) -> Address | None:
    """An address as proxies write it (`1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`);
    None when it is not one (`unknown`, a made-up value)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_loopback(address: str | None) -> bool:
    parsed = parse_address(address) if address else None
    return parsed is not None and parsed.is_loopback


class ClientAddresses:
    """Resolves a request's client address against the trusted proxies."""

    def __init__(self, trusted_proxies: Sequence[Network]) -> None:
        self.trusted = tuple(trusted_proxies)

    def is_trusted(self, address: Address) -> bool:
        return any(address in network for network in self.trusted)

    def client(self, peer: str | None, forwarded_for: Iterable[str]) -> str:
        """The client's address: `peer` (the connection's remote address), or, when the
        peer is a trusted proxy, the right-most X-Forwarded-For hop (every header line in
        order) that is not one; `unknown` without a peer."""
        if not peer:
            return UNKNOWN
        if not self.trusted:
            return peer
        nearest = parse_address(peer)
        if nearest is None or not self.is_trusted(nearest):
            return peer
        hops = [hop for line in forwarded_for for hop in line.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                # Not an address: whoever wrote it is not to be believed; the last trusted
                # hop is the best we know.
                break
            nearest = address
            if not self.is_trusted(address):
                break
        return str(nearest)
