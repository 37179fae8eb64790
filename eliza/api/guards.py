"""Checks for the dangerous routes: those that can stop the server or read and write its
`.env`. They refuse a browser request from a page of another origin (even a GET: the `.env`
holds secrets), and answer only local clients while auth is off (behind a proxy on this
machine: only when the proxy is trusted and relays a local client)."""

from __future__ import annotations

from quart import current_app, request

from ..errors import Forbidden
from .common import server


def require_trusted_client() -> None:
    """A browser on this machine is a loopback client, so the Origin check comes first
    (the middleware made it already for state-changing methods; a GET needs it here). With
    auth off, only loopback clients may go on; with auth on, the API key (checked for every
    /api route) is what admits a client."""
    security = current_app.config["ELIZA_SECURITY"]
    refused = security.origin_refusal(request.headers)
    if refused is not None:
        raise refused
    if server().settings.auth_token:
        return
    if not security.is_local_client(request.remote_addr, request.headers):
        raise Forbidden(
            "This route answers only local clients while ELIZA_SERVER_AUTH_TOKEN is unset"
        )
