"""ElizaOS character documents: validation, secret handling and the API's view of an agent.

A character stays a plain JSON document (ElizaOS characters carry many optional keys that we
keep verbatim); this module checks the keys the server relies on and reports every problem
at once as a 400 `INVALID_CHARACTER`.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import BadRequest
from ..security.secrets import secret_paths

SECRET_MASK = "********"

_STRING_LISTS = ("lore", "postExamples", "topics", "adjectives", "plugins")
_LIST_DEFAULTS = ("bio", "messageExamples", "postExamples", "topics", "adjectives", "knowledge",
                  "plugins")


class InvalidCharacter(BadRequest):
    code = "INVALID_CHARACTER"


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def validate_character(data: Any) -> dict[str, Any]:
    """Check an ElizaOS character JSON object; return a normalised deep copy."""
    if not isinstance(data, dict):
        raise InvalidCharacter("Character must be a JSON object")
    problems: list[str] = []
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("name: required, a non-empty string")
    for key in ("username", "system", "id"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            problems.append(f"{key}: must be a string")
    bio = data.get("bio")
    if bio is not None and not isinstance(bio, str) and not _is_str_list(bio):
        problems.append("bio: must be a string or a list of strings")
    for key in _STRING_LISTS:
        if key in data and data[key] is not None and not _is_str_list(data[key]):
            problems.append(f"{key}: must be a list of strings")
    examples = data.get("messageExamples")
    if examples is not None and not (
        isinstance(examples, list)
        and all(isinstance(conv, list) and all(isinstance(m, dict) for m in conv)
                for conv in examples)
    ):
        problems.append("messageExamples: must be a list of conversations (lists of objects)")
    knowledge = data.get("knowledge")
    if knowledge is not None and not (
        isinstance(knowledge, list) and all(isinstance(k, str | dict) for k in knowledge)
    ):
        problems.append("knowledge: must be a list of strings or objects")
    for key in ("settings", "secrets", "style"):
        if key in data and data[key] is not None and not isinstance(data[key], dict):
            problems.append(f"{key}: must be an object")
    settings = data.get("settings")
    if isinstance(settings, dict) and settings.get("secrets") is not None and not isinstance(
        settings["secrets"], dict
    ):
        problems.append("settings.secrets: must be an object")
    style = data.get("style")
    if isinstance(style, dict):
        for key in ("all", "chat", "post"):
            if key in style and not _is_str_list(style[key]):
                problems.append(f"style.{key}: must be a list of strings")
    if problems:
        raise InvalidCharacter("Invalid character: " + "; ".join(problems), details=problems)
    character = copy.deepcopy(data)
    character["name"] = name.strip()  # type: ignore[union-attr]
    return character


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge `patch` into a copy of `base`: objects merge, `None` deletes a key, an object
    left empty by deletions is removed (ElizaOS semantics for `settings`)."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            inner = deep_merge(merged[key], value)
            if inner or not value:
                merged[key] = inner
            else:
                merged.pop(key, None)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def keep_masked_secrets(patch: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Drop secrets that a client sent back as the mask, so they stay unchanged."""
    cleaned = copy.deepcopy(patch)
    for secrets in secret_paths(cleaned):
        for key in [k for k, v in secrets.items() if v == SECRET_MASK]:
            del secrets[key]
    return cleaned


def masked(character: dict[str, Any]) -> dict[str, Any]:
    """A copy safe to send to clients: every secret value replaced by the fixed mask."""
    view = copy.deepcopy(character)
    for secrets in secret_paths(view):
        for key, value in secrets.items():
            if value is not None:
                secrets[key] = SECRET_MASK
    return view


def bio_summary(character: dict[str, Any]) -> str:
    bio = character.get("bio")
    if isinstance(bio, list):
        return bio[0] if bio else ""
    return bio or ""


def agent_view(character: dict[str, Any]) -> dict[str, Any]:
    """The character as `GET /api/agents/:id` shows it (ElizaOS keys, secrets masked)."""
    view = masked(character)
    for key in _LIST_DEFAULTS:
        view.setdefault(key, [])
    view.setdefault("username", "")
    view.setdefault("settings", {})
    view.setdefault("style", {})
    if not view.get("system"):
        view.pop("system", None)
    return view


def character_setting(character: dict[str, Any], key: str) -> Any:
    """A setting from the (opened) character only, secrets first; never from the env."""
    settings = character.get("settings") or {}
    for source in (settings.get("secrets") or {}, character.get("secrets") or {}, settings):
        if key in source and source[key] is not None:
            return source[key]
    return None
