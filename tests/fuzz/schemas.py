"""Hypothesis strategies from the OpenAPI document's JSON Schemas: bodies that follow the
declared schema, mixed with hostile leaves and extra keys, for every JSON-body route."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from typing import Any

# Hypothesis caches Unicode tables in .hypothesis/ under the working directory, even with no
# example database; keep the checkout clean (read when first needed, so set before use).
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY",
                      os.path.join(tempfile.gettempdir(), "eliza-fuzz-hypothesis"))

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .harness import Fuzzer
from .surface import Route, World

# CI: small and deterministic; bench/fuzz.py raises it (FUZZ_EXAMPLES).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))

_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
_HOSTILE_TEXT = st.sampled_from(["", " ", "\x00", "a\x00b", "\"a\" NEAR(b", "*", "..%2F",
                                 "\u202e", "\U0001f600" * 10, "null", "1e999"])
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63),
                  st.floats(allow_nan=False, allow_infinity=False), _TEXT, _HOSTILE_TEXT)
_ANY = st.recursive(_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)), max_leaves=12)


def from_schema(schema: dict[str, Any], world: World, name: str = "") -> st.SearchStrategy[Any]:
    """Values of the schema, one time in four anything at all."""
    return st.one_of(_valid(schema, world, name), _ANY) if name else _valid(schema, world, name)


def _valid(schema: dict[str, Any], world: World, name: str) -> st.SearchStrategy[Any]:
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return st.one_of(*(_valid(o, world, name) for o in options))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low, high = schema.get("minimum", -(2**53)), schema.get("maximum", 2**53)
        return st.integers(low, high) | st.sampled_from([low, high, 0, -1])
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False,
                         allow_infinity=False)
    if kind == "string":
        if schema.get("format") == "uuid":
            real = [v for v in world.values.values() if len(v) == 36]
            return st.sampled_from(real) | st.builds(lambda: str(uuid.uuid4())) | \
                st.sampled_from(real).map(str.upper)
        size = min(schema.get("maxLength", 60), 60)
        longest = schema.get("maxLength")
        text = st.text(st.characters(codec="utf-8"), min_size=schema.get("minLength", 0),
                       max_size=size) | _HOSTILE_TEXT
        return text | st.just("z" * longest) if longest else text
    if kind == "array":
        return st.lists(_valid(schema.get("items", {}), world, name), max_size=4)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v, world, k) for k, v in props.items() if k in required},
            optional={**{k: from_schema(v, world, k) for k, v in props.items()
                         if k not in required}, "unexpected": _ANY})
    return _ANY


def fuzz_route(fuzzer: Fuzzer, route: Route, path: str, world: World,
               examples: int = EXAMPLES) -> None:
    """Send `examples` bodies generated from the route's declared schema; every answer is
    judged by the fuzzer (problems are collected, not raised, so the run stays bounded)."""
    schema = route.body_schema
    assert schema is not None

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=(Phase.generate,))
    @given(body=from_schema(schema, world))
    def run(body: Any) -> None:
        fuzzer.send_json(route.method, path, body)

    runner: Callable[[], None] = run
    runner()
