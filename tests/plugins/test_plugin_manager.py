"""Entry-point discovery, the allow-list, check_pending, and the plugin listings."""

from __future__ import annotations

import json
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy
import pytest

from conftest import make_settings, open_app
from eliza import hookimpl
from eliza.cli import main
from eliza.plugins import DEFAULT_PLUGINS, make_plugin_manager


def names(pm: pluggy.PluginManager) -> set[str]:
    return {name for name, _ in pm.list_name_plugin() if name is not None}


def test_entry_points_are_discovered() -> None:
    import eliza_plugin_example
    import eliza_plugin_openai

    pm = make_plugin_manager()
    assert {"example", "openai", *DEFAULT_PLUGINS} <= names(pm)
    assert pm.get_plugin("example") is eliza_plugin_example
    assert pm.get_plugin("openai") is eliza_plugin_openai


def test_allow_list() -> None:
    assert names(make_plugin_manager(allow=[])) == set(DEFAULT_PLUGINS)
    assert names(make_plugin_manager(allow=["example"])) == {"example", *DEFAULT_PLUGINS}
    assert names(make_plugin_manager(load_entrypoints=False)) == set(DEFAULT_PLUGINS)


def test_check_pending_rejects_a_misspelt_hook() -> None:
    class Misspelt:
        @hookimpl
        def register_rotues(self, server: Any) -> list[Any]:
            return []

    with pytest.raises(pluggy.PluginValidationError, match="register_rotues"):
        make_plugin_manager(allow=[], extra=[("misspelt", Misspelt())])


def test_wrong_argument_name_is_rejected() -> None:
    class WrongArg:
        @hookimpl
        def register_routes(self, app: Any) -> list[Any]:
            return []

    with pytest.raises(pluggy.PluginValidationError):
        make_plugin_manager(allow=[], extra=[("wrongarg", WrongArg())])


async def test_api_plugins_lists_installed_plugins(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_LOAD_PLUGINS="example,openai",
                             ELIZA_DEFAULT_AGENT="false")
    async with open_app(settings) as app:
        resp = await app.test_client().get("/api/plugins")
        assert resp.status_code == 200
        rows = {row["name"]: row for row in (await resp.get_json())["data"]["plugins"]}
    assert set(rows) == {"example", "openai", *DEFAULT_PLUGINS}
    example = rows["example"]
    assert example["version"] == "0.1.0"
    assert example["distribution"] == "eliza-plugin-example"
    assert example["builtin"] is False
    assert example["hooks"] == ["register_bus_listeners", "register_panels", "register_routes"]
    assert example["routes"] == ["GET /count", "GET /hello/<name>"]
    assert example["panels"] == ["Message counts"]
    assert rows["openai"]["models"] == ["TEXT_EMBEDDING", "TEXT_LARGE", "TEXT_SMALL"]
    assert rows["eliza.runtime.default_model"]["builtin"] is True


async def test_api_plugins_reads_the_installed_packages_once_and_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading the installed distributions takes hundreds of ms: on the trio thread it would
    # stall every other request, and the answer cannot change while the server runs.
    real = metadata.packages_distributions
    threads: list[threading.Thread] = []

    def counting() -> Any:
        threads.append(threading.current_thread())
        return real()

    monkeypatch.setattr(metadata, "packages_distributions", counting)
    settings = make_settings(tmp_path, ELIZA_LOAD_PLUGINS="example",
                             ELIZA_DEFAULT_AGENT="false")
    async with open_app(settings) as app:
        first = await (await app.test_client().get("/api/plugins")).get_json()
        second = await (await app.test_client().get("/api/plugins")).get_json()
    assert first == second
    example = {row["name"]: row for row in first["data"]["plugins"]}["example"]
    assert example["distribution"] == "eliza-plugin-example"
    assert example["routes"] == ["GET /count", "GET /hello/<name>"]
    assert len(threads) == 1
    assert threads[0] is not threading.main_thread()


async def test_env_allow_list_reaches_the_server(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ELIZA_LOAD_PLUGINS="", ELIZA_DEFAULT_AGENT="false")
    async with open_app(settings) as app:
        body = await (await app.test_client().get("/api/plugins")).get_json()
    assert [row["name"] for row in body["data"]["plugins"]] == list(DEFAULT_PLUGINS)


def test_cli_lists_plugins(capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ELIZA_DATA_DIR", str(tmp_path / ".eliza"))
    monkeypatch.delenv("ELIZA_LOAD_PLUGINS", raising=False)
    assert main(["plugins", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["openai"]["hooks"] == ["register_models", "required_settings", "shutdown",
                                       "startup"]
    monkeypatch.setenv("ELIZA_LOAD_PLUGINS", "example")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "eliza-plugin-example" in out
    assert "openai" not in out
