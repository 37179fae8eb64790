"""The settings plugins require (their `required_settings` hook): an agent whose enabled
plugins lack one is not started.

Without the check such an agent would start and then fail every model call for lack of a
key, visible only as its `lastError`. Every way an agent starts goes through `check`: the
start route, the resume of the agents that ran at shutdown, the restart after an update,
and a worker of a deployment taking an agent over. A refusal is a 422 `MISSING_SETTING`
naming the plugin and the setting, and one WARNING line in the log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import MissingSetting
from ..plugin_api import RequiredSetting
from ..plugins import is_builtin
from .character import character_setting

log = logging.getLogger(__name__)

EnabledPlugins = Callable[[Mapping[str, Any]], frozenset[str]]


@dataclass(frozen=True)
class Missing:
    """One required setting an agent lacks."""

    plugin: str
    setting: RequiredSetting

    def to_dict(self) -> dict[str, str]:
        return {"plugin": self.plugin, "setting": self.setting.name,
                "description": self.setting.description}


class SettingsGate:
    """Judges whether an agent may start. `required` is filled by the server from the
    plugins' `required_settings` hook at start-up; `environ` is what a requirement declared
    with `env` may also be found in (the process environment, which such plugins read)."""

    def __init__(self, enabled_plugins: EnabledPlugins,
                 environ: Mapping[str, str] | None = None) -> None:
        self.enabled_plugins = enabled_plugins
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.required: dict[str, list[RequiredSetting]] = {}
        # agent id -> (the record version it was judged on, why it may not start)
        self._refused: dict[str, tuple[int, MissingSetting]] = {}

    def missing(self, character: Mapping[str, Any]) -> list[Missing]:
        """The required settings the character lacks, for the plugins it enables (and the
        built-in ones, which apply to every agent)."""
        enabled = (self.enabled_plugins(character) if any(self.required.values())
                   else frozenset())
        return [
            Missing(plugin, setting)
            for plugin, settings in sorted(self.required.items())
            if is_builtin(plugin) or plugin in enabled
            for setting in settings
            if not any(self._has(character, name, setting.env)
                       for name in (setting.name, *setting.unless))
        ]

    def _has(self, character: Mapping[str, Any], name: str, env: bool) -> bool:
        value = character_setting(dict(character), name)
        if (value is None or value == "") and env:
            value = self.environ.get(name)
        return value is not None and value != ""

    def refusal(self, agent_id: str, character: Mapping[str, Any],
                what: str = "cannot start") -> MissingSetting | None:
        """The error refusing the agent, or None when it lacks nothing."""
        missing = self.missing(character)
        if not missing:
            return None
        by_plugin: dict[str, list[RequiredSetting]] = {}
        for item in missing:
            by_plugin.setdefault(item.plugin, []).append(item.setting)
        reasons = "; ".join(
            f"plugin {plugin} needs setting{'s' if len(settings) > 1 else ''} "
            + ", ".join(_described(s) for s in settings)
            for plugin, settings in by_plugin.items())
        where = "the character's secrets or settings"
        if any(item.setting.env for item in missing):
            where += " (or the server's environment)"
        return MissingSetting(
            f"Agent {character.get('name')} {what}: {reasons}. Set it in {where}",
            details={"agentId": agent_id, "missing": [item.to_dict() for item in missing]})

    def check(self, agent_id: str, version: int, character: Mapping[str, Any], *,
              quietly: bool = False) -> None:
        """Raise MissingSetting when the agent may not start, and log why. `version` is the
        record's `updated_at`; with `quietly` (a deployment's worker looking again every
        tick), a refusal already logged for that version is raised without a new line."""
        known = self._refused.get(agent_id)
        if quietly and known is not None and known[0] == version:
            raise known[1]
        refusal = self.refusal(agent_id, character)
        if refusal is None:
            self._refused.pop(agent_id, None)
            return
        self._refused[agent_id] = (version, refusal)
        warn(agent_id, character, refusal)
        raise refusal

    def refused(self, agent_id: str, version: int) -> MissingSetting | None:
        """Why the agent, at this record version, was last refused a start (None: it was
        not, or its character changed since)."""
        known = self._refused.get(agent_id)
        return known[1] if known is not None and known[0] == version else None

    def forget(self, agent_id: str) -> None:
        self._refused.pop(agent_id, None)


def warn(agent_id: str, character: Mapping[str, Any], refusal: MissingSetting) -> None:
    """The one log line that says why an agent was refused."""
    log.warning("%s", refusal.message, extra={"agent_id": agent_id,
                                              "agent_name": character.get("name")})


def _described(setting: RequiredSetting) -> str:
    return f"{setting.name} ({setting.description})" if setting.description else setting.name
