"""Whom a request comes from: the peer, unless the peer is a trusted proxy, whose
X-Forwarded-For names the client as its right-most hop that is not itself trusted."""

from __future__ import annotations

import pytest

from eliza.cluster.settings import parse_networks
from eliza.security.client_ip import ClientAddresses

PROXIES = ClientAddresses(parse_networks("10.0.0.0/8, 2001:db8::/32, 127.0.0.1"))


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    # Not a trusted peer: the header is whatever the client wrote, and ignored.
    ("192.0.2.10", ["203.0.113.5"], "192.0.2.10"),
    # A trusted proxy: the hop it appended.
    ("10.1.2.3", ["203.0.113.5"], "203.0.113.5"),
    ("127.0.0.1", ["203.0.113.5"], "203.0.113.5"),
    # Left of the appended hop is the client's own writing: not believed.
    ("10.1.2.3", ["198.51.100.1, 203.0.113.5"], "203.0.113.5"),
    # A chain of trusted proxies, on one header line or several.
    ("10.1.2.3", ["203.0.113.5, 10.9.9.9"], "203.0.113.5"),
    ("10.1.2.3", ["198.51.100.1, 203.0.113.5", "10.9.9.9"], "203.0.113.5"),
    # Every hop trusted: the left-most, where the request entered.
    ("10.1.2.3", ["10.4.4.4, 10.5.5.5"], "10.4.4.4"),
    # No header: the proxy itself.
    ("10.1.2.3", [], "10.1.2.3"),
    # Forms proxies write: ports, brackets, IPv6, IPv4-mapped peers.
    ("10.1.2.3", ["203.0.113.5:4711"], "203.0.113.5"),
    ("2001:db8::1", ["[2001:db8:ffff::2]:443, 2600::7"], "2600::7"),
    ("::ffff:10.0.0.1", ["203.0.113.5"], "203.0.113.5"),
    # A hop that is not an address ends the walk at the last trusted one.
    ("10.1.2.3", ["203.0.113.5, unknown"], "10.1.2.3"),
    ("10.1.2.3", ["garbage, 10.7.7.7"], "10.7.7.7"),
    (None, ["203.0.113.5"], "unknown"),
])
def test_the_client_address(peer: str | None, forwarded: list[str], client: str) -> None:
    assert PROXIES.client(peer, forwarded) == client


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert ClientAddresses(()).client("127.0.0.1", ["203.0.113.5"]) == "127.0.0.1"
