"""The HTTP API: one blueprint per domain, all registered here."""

from __future__ import annotations

from typing import Any

from quart import Quart

from . import agents, server_routes, system
from .common import server


def register_blueprints(app: Quart) -> None:
    app.register_blueprint(agents.bp)
    # `/api/runtime/*` is the older name of `/api/server/*`: same handlers, same answers.
    app.register_blueprint(server_routes.bp, url_prefix="/api/server")
    app.register_blueprint(server_routes.bp, url_prefix="/api/runtime", name="runtime")
    app.register_blueprint(system.bp)

    @app.get("/healthz")
    async def healthz() -> Any:
        return {"status": "ok"}

    @app.get("/health")
    async def health() -> Any:
        return server_routes.health_body()


__all__ = ["register_blueprints", "server"]
