"""Checks for the dangerous routes: those that can stop the server or write its `.env`
answer only local clients while auth is off."""

from __future__ import annotations

import ipaddress

from quart import request

from ..errors import Forbidden
from .common import server


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def require_trusted_client() -> None:
    """With auth off, only loopback clients may use the dangerous routes. With auth on,
    the API key (already checked for every /api route) is what admits a client."""
    if server().settings.auth_token:
        return
    if not is_loopback(request.remote_addr):
        raise Forbidden(
            "This route answers only local clients while ELIZA_SERVER_AUTH_TOKEN is unset"
        )
