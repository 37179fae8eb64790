"""Docs and tests are tied to the hook list mechanically (STYLE 2): every hook has a
`test_hook_<name>` somewhere in tests/ and appears in docs/plugins.md with its exact
signature."""

from __future__ import annotations

import ast
import functools
import inspect
from pathlib import Path

import pytest

from eliza import hookspecs
from eliza.plugins import make_plugin_manager

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(name for name in dir(make_plugin_manager(load_entrypoints=False).hook)
               if not name.startswith("_"))


@functools.cache
def _test_functions() -> frozenset[str]:
    found = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.add(node.name)
    return frozenset(found)


def signature(name: str) -> str:
    """`def name(args) -> ret:` as written in hookspecs.py (one line, spaces normalised)."""
    source = inspect.getsource(getattr(hookspecs, name))
    header = source[source.index("def "):source.index(":\n", source.index(")")) + 1]
    return " ".join(header.replace("(\n", "(").replace(",\n)", ")").split()).replace(
        "( ", "(").replace(", )", ")")


def test_the_hook_list_is_known() -> None:
    assert {"register_routes", "startup", "shutdown"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook: str) -> None:
    assert f"test_hook_{hook}" in _test_functions()


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_signature(hook: str) -> None:
    docs = " ".join((ROOT / "docs" / "plugins.md").read_text(encoding="utf-8").split())
    assert signature(hook) in docs, signature(hook)
