"""The HTTP API: one blueprint per domain, all registered here."""

from __future__ import annotations

from typing import Any

from quart import Quart, current_app

from . import (
    agent_logs,
    agents,
    audio,
    channels,
    debug_state,
    docs_page,
    jobs,
    log_streams,
    media,
    media_files,
    memory,
    memory_agents,
    memory_groups,
    messaging_core,
    messaging_servers,
    plugin_routes,
    plugins,
    runs,
    search,
    server_routes,
    sessions,
    system,
    system_info,
    tee,
    worlds,
)
from .common import answer_missing_agent_as_not_found, server
from .contract import declare, openapi_document, unwrapped

# The routes under `/api/agents/:agentId` and the memory routes (`/api/memory/:agentId`,
# `/api/memory/agents/:agentId`) answer an unknown agent 404 NOT_FOUND as the original
# does; the panels route does it itself, the plugin routes and the sessions API keep
# AGENT_NOT_FOUND.
answer_missing_agent_as_not_found(agents.bp, worlds.bp, memory.bp, search.memory_bp,
                                  memory_agents.records, memory_agents.bp, agent_logs.bp,
                                  log_streams.bp, runs.bp)


def register_blueprints(app: Quart) -> None:
    # `/api/agents/worlds` is a static rule: werkzeug matches it before `/<agent_id>`.
    app.register_blueprint(worlds.bp)
    app.register_blueprint(agents.bp)
    _register_memory(app)
    # `/api/runtime/*` is the older name of `/api/server/*`: same handlers, same answers.
    app.register_blueprint(server_routes.bp, url_prefix="/api/server")
    app.register_blueprint(server_routes.bp, url_prefix="/api/runtime", name="runtime")
    app.register_blueprint(system.bp)
    app.register_blueprint(plugins.bp)
    _register_messaging(app)
    # Uploads and the static `/media/*` routes (real routes, so the web UI fallback never
    # shadows them).
    app.register_blueprint(media.bp)
    # `/api/audio/*`: transcription and speech through the agent's speech models.
    app.register_blueprint(audio.bp)
    _register_operator_routes(app)
    # `/api/docs` (Swagger UI) and `/api/asyncapi.json`: public, like /api/openapi.json.
    app.register_blueprint(docs_page.bp)
    # Plugin routes: agent-scoped blueprint + the global `/<plugin>` dispatcher.
    plugin_routes.install(app)

    # Public like /healthz (the security layer lists it in PUBLIC_API_PATHS).
    @app.get("/api/openapi.json")
    @declare("This OpenAPI 3.1 contract (public: no API key needed)", tags="system",
             answers=unwrapped({"type": "object", "required": ["openapi", "info", "paths"]}))
    async def openapi() -> Any:
        return _openapi()

    @app.get("/healthz")
    async def healthz() -> Any:
        return {"status": "ok"}

    @app.get("/health")
    async def health() -> Any:
        return server_routes.health_body()


def _openapi() -> dict[str, Any]:
    # Built once per app: the routes do not change after start-up.
    document: dict[str, Any] | None = current_app.config.get("ELIZA_OPENAPI")
    if document is None:
        document = current_app.config["ELIZA_OPENAPI"] = openapi_document(current_app)
    return document


def _register_operator_routes(app: Quart) -> None:
    # Media files by id, the SSE log streams, the debug snapshot, env/capabilities, and the
    # `/api/tee` placeholder (a `tee` plugin takes it over).
    app.register_blueprint(media_files.bp)
    app.register_blueprint(log_streams.bp)
    app.register_blueprint(debug_state.bp, url_prefix="/api/server")
    app.register_blueprint(debug_state.bp, url_prefix="/api/runtime", name="runtime_debug_state")
    app.register_blueprint(system_info.bp)
    app.register_blueprint(tee.bp)


def _register_memory(app: Quart) -> None:
    # The memory and room routes answer under `/api/memory` and `/api/agents` alike.
    app.register_blueprint(memory.bp, url_prefix="/api/memory")
    app.register_blueprint(memory.bp, url_prefix="/api/agents", name="agent_memory")
    app.register_blueprint(search.memory_bp, url_prefix="/api/memory")
    app.register_blueprint(search.memory_bp, url_prefix="/api/agents", name="agent_memory_search")
    app.register_blueprint(memory.groups)
    # One memory created or read, and `/api/memory/agents/:agentId/*` (search, stats,
    # insights, export, import); the group spaces listed and read.
    app.register_blueprint(memory_agents.records, url_prefix="/api/memory")
    app.register_blueprint(memory_agents.records, url_prefix="/api/agents",
                           name="agent_memory_records")
    app.register_blueprint(memory_agents.bp)
    app.register_blueprint(memory_groups.bp)
    app.register_blueprint(agent_logs.bp)


def _register_messaging(app: Quart) -> None:
    # Channels answer under the 1.7 and the 1.5 prefix with the same handlers.
    app.register_blueprint(channels.bp, url_prefix="/api/messaging/channels")
    app.register_blueprint(channels.bp, url_prefix="/api/messaging/central-channels",
                           name="central_channels")
    for bp in messaging_servers.blueprints:
        app.register_blueprint(bp)
    app.register_blueprint(messaging_servers.extra)
    app.register_blueprint(messaging_core.bp)
    app.register_blueprint(search.messages_bp)
    # Sessions (`/health` is matched before `/<session_id>` inside the blueprint).
    app.register_blueprint(sessions.bp)
    # Jobs (`/health` is matched before `/<job_id>`, likewise).
    app.register_blueprint(jobs.bp)
    app.register_blueprint(runs.bp)


__all__ = ["register_blueprints", "server"]
