"""The plugin manager: built-in plugins plus pip-installed ones from the `eliza` entry points."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Iterator, Mapping
from importlib import import_module, metadata
from typing import Any, Literal

import pluggy

from . import hookspecs

log = logging.getLogger(__name__)

# The core's own features, registered through the same hooks a third-party plugin uses.
DEFAULT_PLUGINS: tuple[str, ...] = ("eliza.runtime.default_model",)

# ElizaOS package names that never map to a plugin here (their job is built in).
BUILT_IN_ELIZAOS_PLUGINS = frozenset({"sql", "bootstrap"})


def make_plugin_manager(
    *,
    load_entrypoints: bool = True,
    allow: Iterable[str] | None = None,
    trace: bool = False,
    extra: Iterable[tuple[str, object]] = (),
) -> pluggy.PluginManager:
    """Build a fresh plugin manager.

    :param load_entrypoints: load installed plugins from the `eliza` entry-point group.
    :param allow: when given, only entry points with these names are loaded
        (`ELIZA_LOAD_PLUGINS`); an empty list loads none.
    :param trace: log every hook call (`ELIZA_TRACE_PLUGINS`).
    :param extra: `(name, plugin)` pairs registered as well (tests, embedding apps).
    """
    pm = pluggy.PluginManager("eliza")
    pm.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        pm.register(import_module(module_name), name=module_name)
    if load_entrypoints:
        wanted = None if allow is None else set(allow)
        for ep in metadata.entry_points(group="eliza"):
            if wanted is not None and ep.name not in wanted:
                continue
            if pm.get_plugin(ep.name) is not None:
                continue
            pm.register(ep.load(), name=ep.name)
    for name, plugin in extra:
        pm.register(plugin, name=name)
    # A misspelt hook implementation fails here, at start-up, not silently later.
    pm.check_pending()
    if trace:
        pm.trace.root.setwriter(lambda text: log.info("%s", text.rstrip()))
        pm.enable_tracing()
    return pm


def is_builtin(name: str) -> bool:
    return name in DEFAULT_PLUGINS


def plugin_name_for(reference: str, installed: Iterable[str]) -> str | None:
    """Map a character's plugin reference to an installed plugin name.

    `@elizaos/plugin-openai`, `plugin-openai` and `openai` all name plugin `openai`.
    """
    names = set(installed)
    if reference in names:
        return reference
    short = reference.rsplit("/", 1)[-1]
    short = short.removeprefix("plugin-").removeprefix("eliza-plugin-")
    return short if short in names else None


def call_each(
    pm: pluggy.PluginManager,
    hook_name: str,
    *,
    errors: Literal["raise", "log"] = "raise",
    **kwargs: Any,
) -> Iterator[tuple[str, Any]]:
    """Call each plugin's implementation of `hook_name` on its own, yielding (plugin name,
    result). Each call goes through pluggy (a subset hook caller), so hook tracing sees it;
    the server uses this where it must know which plugin answered. With `errors="log"` an
    implementation that raises is logged and the others still run."""
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    for impl in impls:
        others = [other.plugin for other in impls if other is not impl]
        caller = pm.subset_hook_caller(hook_name, remove_plugins=others)
        try:
            results = caller(**kwargs)
        except Exception:
            if errors == "raise":
                raise
            log.exception("hook %s of plugin %s failed", hook_name, impl.plugin_name)
            continue
        yield impl.plugin_name, results[0] if results else None


async def await_me_maybe(value: Any) -> Any:
    """Await `value` if it is awaitable (a hook may return either)."""
    if inspect.isawaitable(value):
        return await value
    return value


def plugin_distribution(
    plugin: object, packages: Mapping[str, list[str]] | None = None
) -> tuple[str | None, str | None]:
    """(distribution name, version) of the package a plugin module comes from, if any.

    :param packages: `importlib.metadata.packages_distributions()`, which reads every
        installed distribution (hundreds of ms): pass it when describing many plugins.
    """
    module = getattr(plugin, "__name__", type(plugin).__module__).split(".")[0]
    if packages is None:
        packages = metadata.packages_distributions()
    for dist_name in packages.get(module, []):
        try:
            return dist_name, metadata.version(dist_name)
        except metadata.PackageNotFoundError:
            continue
    return None, None
