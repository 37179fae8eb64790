"""The input boundary of the HTTP API: strict JSON and typed fields.

Every request body goes through `loads` and every field a handler uses through a spec
(`Text`, `Uuid`, `Integer`, ...) before anything is written, so hostile input is a 4xx
envelope naming the field and the problem (`details: {field, problem}`), never a 500 and
never a half-applied change. The specs also describe themselves as JSON Schema, which the
route declarations (eliza/api/contract.py) publish as the OpenAPI contract.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quart import current_app

from ..errors import BadRequest, InvalidId
from ..ids import validate_uuid

MAX_DEPTH = 64  # ElizaOS characters nest about 6 levels; 64 leaves room and bounds recursion
# JS `Number.MAX_SAFE_INTEGER`: the clients are JS, so a larger integer is a bug or an
# attack, and epoch milliseconds fit with room to spare. SQLite would refuse > 2**63 anyway.
MAX_SAFE_INT = 2**53 - 1


def invalid(name: str, problem: str, *, code: str | None = None) -> BadRequest:
    """The 400 for one bad field: `details` names it and the problem."""
    details = {"field": name, "problem": problem}
    if code == InvalidId.code:
        return InvalidId(f"{name} {problem}", details=details)
    return BadRequest(f"{name} {problem}", code=code, details=details)


# -- strict JSON --------------------------------------------------------------------------


def loads(raw: bytes | str, what: str = "body") -> Any:
    """JSON as a strict parser reads it: at most MAX_DEPTH levels, no NaN/Infinity (nor
    numbers that overflow to them), no lone UTF-16 surrogates (SQLite and UTF-8 cannot hold
    them). Malformed input is a 400 naming the offending field where there is one."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _too_deep(what) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON {what}: {exc}",
                         details={"field": what, "problem": "is not valid JSON"}) from None
    check_tree(value, what)
    return value


def _too_deep(what: str) -> BadRequest:
    problem = f"is nested more than {MAX_DEPTH} levels deep"
    return BadRequest(f"JSON {what} is nested too deeply",
                      details={"field": what, "problem": problem})


def check_tree(value: Any, what: str = "body") -> None:
    """Refuse a decoded JSON value nested too deeply, or holding a non-finite number or a
    lone surrogate anywhere (keys included)."""
    bad = _walk(value, 0)
    if bad is None:
        return
    path, problem = bad
    if problem == "deep":
        raise _too_deep(what)
    raise invalid(_path(path) or what, problem)


_SURROGATE = "contains a lone UTF-16 surrogate"


def _has_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _walk(value: Any, depth: int) -> tuple[list[str | int], str] | None:
    """None when fine, else (the path to the bad value, innermost first; the problem)."""
    if isinstance(value, str):
        return ([], _SURROGATE) if _has_surrogate(value) else None
    if isinstance(value, float):
        return None if math.isfinite(value) else ([], "must be a finite number")
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            return [], "deep"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and _has_surrogate(key):
                return [key], "has a key that " + _SURROGATE
            bad = _walk(item, depth + 1)
            if bad is not None:
                if bad[1] != "deep":
                    bad[0].append(key)
                return bad
    return None


def _path(parts: list[str | int]) -> str:
    out = ""
    for part in reversed(parts):
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# -- field specs ----------------------------------------------------------------------------


def limit(name: str) -> int:
    """A size limit from the settings (`max_name_chars`, `max_message_chars`)."""
    value: int = getattr(current_app.config["ELIZA_SERVER"].settings, name)
    return value


@dataclass(frozen=True)
class Spec:
    """One field's type: `check` returns the value to use or raises `invalid`; `schema`
    is its JSON Schema. `nullable` lets JSON null through as None."""

    description: str = ""
    nullable: bool = field(default=False, kw_only=True)
    # The message a failure of this value answers with, for routes that keep their own
    # historical wording (`{value}` is replaced by the value); `details` still names the
    # field and the precise problem. It covers the value's parts that have no wording of
    # their own; `code` likewise, the error code (else BAD_REQUEST, or INVALID_ID).
    message: str = field(default="", kw_only=True)
    code: str = field(default="", kw_only=True)

    def check(self, value: Any, name: str) -> Any:
        if value is None and self.nullable:
            return None
        try:
            return self._check(value, name)
        except BadRequest as exc:
            raise self.reword(exc, value) from None

    def _check(self, value: Any, name: str) -> Any:
        return value

    def reword(self, exc: BadRequest, value: Any) -> BadRequest:
        """`exc` in this spec's `message` (unless a part worded it) and `code`."""
        details = exc.details if isinstance(exc.details, dict) else {}
        plain = exc.message == f"{details.get('field')} {details.get('problem')}"
        message = self.message.replace("{value}", str(value)) if (
            self.message and plain) else exc.message
        code = self.code or exc.code
        if message == exc.message and code == exc.code:
            return exc
        return type(exc)(message, code=code, details=exc.details, headers=exc.headers)

    def schema(self) -> dict[str, Any]:
        out = self._schema()
        if self.nullable:
            out = {"anyOf": [out, {"type": "null"}]}
        if self.description:
            out["description"] = self.description
        return out

    def _schema(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Text(Spec):
    """A string. `max_chars` is a count or the name of a settings limit; `nul=False`
    refuses U+0000 (the full-text index cannot take it); `blank=False` needs some text."""

    max_chars: int | str | None = None
    blank: bool = True
    nul: bool = True
    enum: tuple[str, ...] = ()
    long_message: str = ""  # the wording for a value over max_chars (else `message`'s)

    def _check(self, value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise invalid(name, "must be a string")
        if not self.blank and not value.strip():
            raise invalid(name, "must be a non-empty string")
        most = limit(self.max_chars) if isinstance(self.max_chars, str) else self.max_chars
        if most is not None and len(value) > most:
            exc = invalid(name, f"must be at most {most} characters")
            if self.long_message:
                exc = BadRequest(self.long_message, code=exc.code, details=exc.details)
            raise exc
        if not self.nul and "\x00" in value:
            raise invalid(name, "must not contain a NUL character")
        if self.enum and value not in self.enum:
            raise invalid(name, f"must be one of {', '.join(self.enum)}")
        if _has_surrogate(value):
            raise invalid(name, _SURROGATE)
        return value

    def _schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string"}
        if not self.blank:
            out["minLength"] = 1
        if isinstance(self.max_chars, int):
            out["maxLength"] = self.max_chars
        elif isinstance(self.max_chars, str):
            out["maxLength"] = limit(self.max_chars)
        if self.enum:
            out["enum"] = list(self.enum)
        return out


@dataclass(frozen=True)
class Uuid(Spec):
    """A UUID in any case; the value used is lower case. A bad one is 400 INVALID_ID.
    `empty` takes "" as absent (None), as some clients send an unset id."""

    empty: bool = False

    def _check(self, value: Any, name: str) -> str | None:
        if self.empty and value == "":
            return None
        if not isinstance(value, str):
            raise invalid(name, "must be a UUID string")
        valid = validate_uuid(value)
        if valid is None:
            raise invalid(name, "must be a UUID", code=InvalidId.code)
        return valid

    def _schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "uuid"}


@dataclass(frozen=True)
class Integer(Spec):
    """An integer in [lo, hi] (refused outside); `clamp` brings it into [clamp_lo, clamp_hi]
    instead, as paging limits do. `digits` also takes a string of digits."""

    lo: int = -MAX_SAFE_INT
    hi: int = MAX_SAFE_INT
    clamp: tuple[int, int] | None = None
    digits: bool = False

    def _check(self, value: Any, name: str) -> int:
        if self.digits and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            # More digits than any int64 has is out of range (int() of thousands is slow).
            value = int(value) if len(value.strip()) <= 20 else self.hi + 1
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(name, "must be an integer")
        if not self.lo <= value <= self.hi:
            raise invalid(name, f"must be an integer between {self.lo} and {self.hi}")
        if self.clamp is not None:
            value = max(self.clamp[0], min(self.clamp[1], value))
        return int(value)

    def _schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer", "minimum": self.lo, "maximum": self.hi}
        if self.clamp is not None:
            out["description"] = f"brought into {self.clamp[0]}..{self.clamp[1]}"
        return out


@dataclass(frozen=True)
class Number(Spec):
    """A finite number in [lo, hi]."""

    lo: float = -float(MAX_SAFE_INT)
    hi: float = float(MAX_SAFE_INT)

    def _check(self, value: Any, name: str) -> float:
        problem = f"must be a number between {self.lo:g} and {self.hi:g}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(name, problem)
        # An int is compared as an int: float() of a huge one would overflow.
        if (isinstance(value, float) and not math.isfinite(value)) or not (
                self.lo <= value <= self.hi):
            raise invalid(name, problem)
        return float(value)

    def _schema(self) -> dict[str, Any]:
        return {"type": "number", "minimum": self.lo, "maximum": self.hi}


@dataclass(frozen=True)
class Boolean(Spec):
    def _check(self, value: Any, name: str) -> bool:
        if not isinstance(value, bool):
            raise invalid(name, "must be true or false")
        return value

    def _schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Obj(Spec):
    """A JSON object; `fields` are checked when present (others pass as they are)."""

    fields: Mapping[str, Spec] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    missing: str = ""  # the wording when a required field is absent (else `message`'s)

    def _check(self, value: Any, name: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid(name, "must be an object")
        for key in self.required:
            if value.get(key) is None:
                exc = invalid(_join(name, key), "is required")
                if self.missing:
                    exc = BadRequest(self.missing, code=exc.code, details=exc.details)
                raise exc
        checked = dict(value)
        for key, spec in self.fields.items():
            if key in value:
                checked[key] = spec.check(value[key], _join(name, key))
        return checked

    def _schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        if self.fields:
            out["properties"] = {key: spec.schema() for key, spec in self.fields.items()}
        if self.required:
            out["required"] = list(self.required)
        return out


def _join(name: str, key: str) -> str:
    # The body's own fields are named bare: `metadata`, not `body.metadata`.
    return key if name == "body" else f"{name}.{key}"


@dataclass(frozen=True)
class Array(Spec):
    items: Spec | None = None
    max_items: int | None = None

    def _check(self, value: Any, name: str) -> list[Any]:
        if not isinstance(value, list):
            raise invalid(name, "must be an array")
        if self.max_items is not None and len(value) > self.max_items:
            raise invalid(name, f"must have at most {self.max_items} items")
        if self.items is None:
            return value
        return [self.items.check(item, f"{name}[{i}]") for i, item in enumerate(value)]

    def _schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array"}
        if self.items is not None:
            out["items"] = self.items.schema()
        if self.max_items is not None:
            out["maxItems"] = self.max_items
        return out


@dataclass(frozen=True)
class OneOf(Spec):
    """The first of `options` that takes the value (e.g. a string or an object)."""

    options: tuple[Spec, ...] = ()
    problem: str = "has the wrong type"

    def _check(self, value: Any, name: str) -> Any:
        for option in self.options:
            try:
                return option.check(value, name)
            except BadRequest:
                continue
        raise invalid(name, self.problem)

    def _schema(self) -> dict[str, Any]:
        return {"anyOf": [option.schema() for option in self.options]}


ANY = Spec()
METADATA = Obj(description="free-form metadata")
NAME = Text(max_chars="max_name_chars", blank=False)
MESSAGE = Text(max_chars="max_message_chars", blank=False)
# A message's `raw_message`: what the client sent, an object or a string.
RAW = OneOf(options=(Obj(), Text(max_chars="max_message_chars")),
            problem="must be an object or a string", nullable=True)


def pick(body: Mapping[str, Any], specs: Mapping[str, Spec]) -> dict[str, Any]:
    """The fields of `body` that `specs` names, each checked (absent stays absent)."""
    return {key: spec.check(body[key], key) for key, spec in specs.items() if key in body}


def first(body: Mapping[str, Any], spec: Spec, *keys: str) -> Any:
    """The first of `keys` (aliases of one field) with a truthy value, checked; else None."""
    for key in keys:
        if body.get(key):
            return spec.check(body[key], key)
    return None
