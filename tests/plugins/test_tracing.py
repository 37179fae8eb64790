"""`ELIZA_TRACE_PLUGINS=1` logs every hook call: the server calls each hook through pluggy,
never a plugin's function directly."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from conftest import make_settings, open_app
from eliza import hookspecs
from eliza.plugins import make_plugin_manager
from eliza.server import AgentServer
from tests.plugins.adhoc import NAME, AdHocPlugin

HOOKS = sorted(name for name, value in vars(hookspecs).items()
               if callable(value) and hasattr(value, "eliza_spec"))


def test_every_hook_is_known() -> None:
    assert HOOKS == ["register_bus_listeners", "register_migrations", "register_models",
                     "register_panels", "register_routes", "required_settings", "shutdown",
                     "startup"]


async def test_tracing_logs_every_hook_call(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false", ELIZA_TRACE_PLUGINS="1")
    assert settings.trace_plugins
    adhoc = AdHocPlugin()
    pm = make_plugin_manager(allow=[], trace=settings.trace_plugins, extra=[(NAME, adhoc)])
    with caplog.at_level(logging.INFO, logger="eliza.plugins"):
        async with open_app(settings, AgentServer(settings, pm)):
            pass
    traced = [r.getMessage() for r in caplog.records if r.name == "eliza.plugins"]
    called = {hook for hook in HOOKS if any(f"{hook} [hook]" in line for line in traced)}
    assert called == set(HOOKS), f"not traced: {set(HOOKS) - called}"
    # The plugin's hooks really ran (the trace is of real calls, not of a listing).
    assert adhoc.started
    assert adhoc.stopped


async def test_without_tracing_nothing_is_logged(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, ELIZA_DEFAULT_AGENT="false")
    pm = make_plugin_manager(allow=[], trace=settings.trace_plugins,
                             extra=[(NAME, AdHocPlugin())])
    with caplog.at_level(logging.INFO, logger="eliza.plugins"):
        async with open_app(settings, AgentServer(settings, pm)):
            pass
    assert not [r for r in caplog.records if r.name == "eliza.plugins" and "[hook]" in
                r.getMessage()]
