"""The objects plugins return from their hooks (re-exported from the package root)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bus import Event

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Route:
    """An HTTP route served under the plugin's prefix.

    `handler` is `async def handler(request, runtime)` and returns anything Quart accepts
    (a dict becomes JSON). `path` may hold `<param>` placeholders (read them from
    `request.view_args`). `public` plus `name` on a GET route lists it as a panel.
    """

    method: str
    path: str
    handler: Callable[..., Awaitable[Any]]
    public: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        method = self.method.upper()
        if method not in HTTP_METHODS:
            raise ValueError(f"Route method must be one of {sorted(HTTP_METHODS)}, not {method!r}")
        object.__setattr__(self, "method", method)
        if not self.path.startswith("/"):
            object.__setattr__(self, "path", "/" + self.path)


@dataclass(frozen=True)
class Panel:
    """A UI panel of an agent: a `path` relative to the plugin's prefix, or inline `html`."""

    name: str
    path: str | None = None
    html: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.html is None):
            raise ValueError("Panel needs exactly one of path or html")


@dataclass(frozen=True)
class BusListener:
    """`async def handler(event)` called for each bus event whose name is in `events`."""

    events: Collection[str]
    handler: Callable[[Event], Awaitable[None]]
    name: str = field(default="")


@dataclass(frozen=True)
class RequiredSetting:
    """A setting every agent that enables the plugin must have; without it the agent does
    not start (422 `MISSING_SETTING` names the plugin and the setting).

    It is looked up as `runtime.get_setting(name)` looks it up (the character's secrets,
    then its settings; an empty string counts as unset). `env`: the server process's
    environment variable of the same name counts too, for a plugin that falls back on it
    itself. `unless`: other settings, any one of which makes this one unnecessary (looked
    up the same way), e.g. an API key that a local endpoint's URL does without.
    """

    name: str
    description: str = ""
    env: bool = False
    unless: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("RequiredSetting needs a name")
        unless: object = self.unless
        if isinstance(unless, str):  # ("NAME") without its comma would be its letters
            raise TypeError("RequiredSetting.unless is a tuple of setting names, not a str")
        object.__setattr__(self, "unless", tuple(self.unless))
