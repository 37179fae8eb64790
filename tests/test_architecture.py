"""Which part of `eliza` may import which, checked on the source (docs/architecture.md).

Every module under eliza/ is parsed; every `import` and `from ... import` counts, including those
under `if TYPE_CHECKING:` and inside functions. Relative imports are resolved, and
`from pkg import name` counts as importing `pkg.name` when that is a module. Patterns are
fnmatch patterns over dotted module names: "eliza.store*" is the package and all under it.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "eliza"

# Modules every layer may use; they import nothing of eliza (their own rule below).
LEAVES = ("eliza.ids", "eliza.clock", "eliza.errors", "eliza.metrics", "eliza.handoff")
# The wiring point, the app and CLI around it (`eliza db` included: it collects a server's
# migrations), the HTTP handlers, the plugin-facing modules (hooks receive the server) and
# the pytest plugin that builds servers for plugin authors.
SERVER_USERS = ("eliza", "eliza.server", "eliza.app", "eliza.cli", "eliza.dbtool*", "eliza.api*",
                "eliza.hookspecs", "eliza.plugin_host", "eliza.plugin_api", "eliza.fastpath",
                "eliza.testing*")


@dataclass(frozen=True)
class Rule:
    scope: tuple[str, ...]  # the modules the rule governs...
    exempt: tuple[str, ...] = ()  # ...except these
    allowed: tuple[str, ...] | None = None  # if set, every eliza import must match one of these
    forbidden: tuple[str, ...] = ()  # no eliza import may match any of these


RULES: dict[str, Rule] = {
    "only the wiring and plugin-facing modules import eliza.server": Rule(
        scope=("eliza*",), exempt=SERVER_USERS, forbidden=("eliza.server",)),
    "the store imports only itself and the leaf modules": Rule(
        scope=("eliza.store*",), allowed=("eliza.store*", *LEAVES)),
    "the bus imports only itself and the leaf modules": Rule(
        scope=("eliza.bus*",), allowed=("eliza.bus*", *LEAVES)),
    "the runtime does not import api, realtime, sessions or messaging": Rule(
        scope=("eliza.runtime*",),
        forbidden=("eliza.api*", "eliza.realtime*", "eliza.sessions*", "eliza.messaging*")),
    "realtime does not import api": Rule(scope=("eliza.realtime*",), forbidden=("eliza.api*",)),
    # The Socket.IO codec is pure protocol code (standard library only) the SDK shares.
    "the client SDK imports only itself, eliza.ids and the Socket.IO codec": Rule(
        scope=("eliza.client*",), allowed=("eliza.client*", "eliza.ids", "eliza.realtime",
                                           "eliza.realtime.codec")),
    "the leaf modules import nothing of eliza": Rule(scope=LEAVES, allowed=()),
    "the Socket.IO codec imports nothing of eliza": Rule(
        scope=("eliza.realtime.codec",), allowed=()),
}

# SQL lives in the store: no string constant elsewhere starts with one of these words. `eliza
# db` is the database's own tool: it copies and counts every table by name, on both dialects.
# The PostgreSQL bus is a database client of its own (NOTIFY, and the rows of large events).
SQL_SCOPE = Rule(scope=("eliza*",),
                 exempt=("eliza.store*", "eliza.dbtool*", "eliza.bus.postgres"))
# A verb alone ("DELETE" the HTTP method, "create an agent") is not SQL: the word that must follow
# is part of the pattern.
SQL_START = re.compile(
    r"\s*(SELECT\b.*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|CREATE\s+(TABLE|(UNIQUE\s+)?INDEX|VIRTUAL|TRIGGER|VIEW|TEMP))\b",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Import:
    file: str
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} -> {self.module}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def known_modules() -> frozenset[str]:
    return frozenset(module_name(p) for p in PACKAGE.rglob("*.py"))


def imports_of(source: str, module: str, file: str, is_package: bool = False) -> list[Import]:
    """The eliza modules `source` (the text of `module`) imports, wherever the statement is."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source, file)):
        if isinstance(node, ast.Import):
            found += [Import(file, node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if sub in known_modules() or sub == module else base
                found.append(Import(file, node.lineno, target))
    unique = dict.fromkeys(i for i in found if i.module == "eliza" or i.module.startswith("eliza."))
    return sorted(unique, key=lambda i: i.line)


def sql_strings(source: str, file: str) -> list[Import]:
    """String constants that start like an SQL statement (docstrings are prose, not SQL)."""
    tree = ast.parse(source, file)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        Import(file, node.lineno, " ".join(node.value.split())[:60])
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings and SQL_START.match(node.value)
    ]


def matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


def governed(rule: Rule, module: str) -> bool:
    return matches(module, rule.scope) and not matches(module, rule.exempt)


def breaks(rule: Rule, imported: str) -> bool:
    if matches(imported, rule.forbidden):
        return True
    return rule.allowed is not None and not matches(imported, rule.allowed)


@cache
def sources() -> tuple[tuple[str, str, str, bool], ...]:
    """(module, file relative to the repository, source, is package) for every module."""
    return tuple(
        (module_name(p), str(p.relative_to(ROOT)), p.read_text(encoding="utf-8"),
         p.name == "__init__.py")
        for p in sorted(PACKAGE.rglob("*.py"))
    )


def violations(rule: Rule) -> list[Import]:
    return [
        imp
        for module, file, text, is_package in sources() if governed(rule, module)
        for imp in imports_of(text, module, file, is_package) if breaks(rule, imp.module)
    ]


def report(what: str, found: list[Import]) -> str:
    return f"{what}; {len(found)} violation(s):\n" + "\n".join(f"  {v}" for v in found)


@pytest.mark.parametrize("name", list(RULES))
def test_import_rule(name: str) -> None:
    found = violations(RULES[name])
    assert not found, report(name, found)


def test_sql_lives_in_the_store() -> None:
    found = [
        hit
        for module, file, text, _ in sources() if governed(SQL_SCOPE, module)
        for hit in sql_strings(text, file)
    ]
    assert not found, report("SQL text outside eliza/store", found)


def test_the_checker_sees_every_kind_of_import() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import schema\n"
        "from ..errors import ApiError\n"
        "if TYPE_CHECKING:\n"
        "    from ..server import AgentServer\n"
        "def late():\n"
        "    import eliza.api.agents\n"
        "    from eliza import settings\n"
    )
    found = imports_of(source, "eliza.store.fake", "eliza/store/fake.py")
    assert [str(i) for i in found] == [
        "eliza/store/fake.py:2 -> eliza.store.schema",
        "eliza/store/fake.py:3 -> eliza.errors",
        "eliza/store/fake.py:5 -> eliza.server",
        "eliza/store/fake.py:7 -> eliza.api.agents",
        "eliza/store/fake.py:8 -> eliza.settings",
    ]
    store = RULES["the store imports only itself and the leaf modules"]
    assert [i.line for i in found if breaks(store, i.module)] == [5, 7, 8]
    server = RULES["only the wiring and plugin-facing modules import eliza.server"]
    assert governed(server, "eliza.store.fake")
    assert not governed(server, "eliza.api.agents")
    assert [i.line for i in found if breaks(server, i.module)] == [5]


def test_the_checker_sees_sql_but_not_prose() -> None:
    source = (
        '"""Update the agents: prose, not SQL."""\n'
        'Q = """\n    select id FROM agents"""\n'
        'def f(t):\n'
        '    """Delete a row."""\n'
        '    return f"DELETE FROM {t}", "created", "DELETE", "update the agent"\n'
    )
    assert [i.line for i in sql_strings(source, "x.py")] == [2, 6]


def test_the_client_sdk_loads_no_server_framework() -> None:
    """What `import eliza.client` loads at run time, packages' __init__ modules included."""
    probe = "import sys, eliza.client; print(*sys.modules)"
    modules = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    frameworks = {"quart", "quart_trio", "hypercorn", "pluggy"}
    loaded = sorted({m.split(".")[0] for m in modules} & frameworks | {"eliza.server"} & {*modules})
    assert not loaded, f"import eliza.client loads {loaded}"
