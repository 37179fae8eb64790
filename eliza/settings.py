"""One frozen Settings object, read from the environment and `.env` files.

Sources, highest first: the process environment, `./.env`, `$ELIZA_DATA_DIR/.env`.
Names follow the ElizaOS seeds (PORT, SERVER_PORT, SERVER_HOST, ELIZA_SERVER_AUTH_TOKEN, ...).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dotenv import dotenv_values

from .cluster.settings import ClusterSettings, ClusterSettingsError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
_FALSE = {"0", "false", "no", "off", "disable", "disabled"}
_TRUE = {"1", "true", "yes", "on", "enable", "enabled"}


class SettingsError(ValueError):
    """A setting has a value the server cannot use."""


def parse_size(text: str) -> int:
    """Parse an Express-style size such as `2mb`, `500kb` or `1048576` into bytes."""
    match = _SIZE.match(text)
    if not match:
        raise SettingsError(f"not a size: {text!r} (use e.g. 2mb, 512kb or a byte count)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "b").lower()])


def parse_bool(text: str | None, default: bool) -> bool:
    if text is None or not text.strip():
        return default
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"not a boolean: {text!r}")


def _positive_int(get: Callable[[str], str | None], name: str, default: int) -> int:
    text = get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} is not a number: {text!r}") from None
    if value < 1:
        raise SettingsError(f"{name} must be at least 1, not {value}")
    return value


def _clamped_minutes(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    try:
        value = int(float(raw)) if raw else default
    except ValueError:
        value = default
    return max(lo, min(hi, value))


# LOG_LEVEL takes ElizaOS's level names (and Python's WARNING/CRITICAL).
LOG_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
              "log": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING,
              "error": logging.ERROR, "fatal": logging.CRITICAL, "critical": logging.CRITICAL}


def parse_log_level(text: str | None) -> int:
    if text is None:
        return logging.INFO
    level = LOG_LEVELS.get(text.strip().lower())
    if level is None:
        raise SettingsError(f"LOG_LEVEL must be one of trace, debug, info, warn, error, "
                            f"fatal: {text!r}")
    return level


def _positive(text: str | None, name: str, default: float) -> float:
    """A finite number above 0 (a bound that cannot be switched off)."""
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name} is not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise SettingsError(f"{name} must be a finite number above 0: {text!r}")
    return value


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` requests per `window` seconds per client IP."""

    limit: int
    window: float


@dataclass(frozen=True)
class SessionSettings:
    default_timeout_minutes: int = 30
    min_timeout_minutes: int = 5
    max_timeout_minutes: int = 1440
    max_duration_minutes: int = 720
    warning_threshold_minutes: int = 5
    cleanup_interval_minutes: int = 5


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 3000
    data_dir: Path = Path(".eliza")
    # Where uploaded and generated media live (ELIZA_UPLOADS_DIR); None: inside data_dir.
    # The hosts of a deployment point it at one shared directory, so each serves every file.
    uploads_dir: Path | None = None
    auth_token: str | None = None
    cors_origin: str | None = None
    # Host names (besides loopback, the bind address and IP literals) a request may name
    # while auth is off: the DNS-rebinding check (eliza/security/origin.py).
    allowed_hosts: tuple[str, ...] = ()
    max_json_bytes: int = 2 * 1024**2
    max_upload_bytes: int = 50 * 1024**2
    # Longest name (agent, room, world, channel, server) and message text, in characters.
    max_name_chars: int = 256
    max_message_chars: int = 100_000
    rate_limits_enabled: bool = True
    api_rate_limit: RateLimit = RateLimit(1000, 15 * 60)
    file_rate_limit: RateLimit = RateLimit(100, 5 * 60)
    upload_rate_limit: RateLimit = RateLimit(50, 15 * 60)
    channel_rate_limit: RateLimit = RateLimit(200, 10 * 60)
    sessions: SessionSettings = field(default_factory=SessionSettings)
    default_agent: bool = True
    characters_dir: Path = Path("characters")
    load_plugins: tuple[str, ...] | None = None
    trace_plugins: bool = False
    ui_enabled: bool = True
    environment: str = "development"
    secret_salt: str | None = None
    # PostgreSQL when set (POSTGRES_URL, or its alias DATABASE_URL), else SQLite in data_dir.
    database_url: str | None = None
    # Connections the server keeps to PostgreSQL, and how long a connect and a statement may
    # take (seconds) before the request fails with 503 DATABASE_UNAVAILABLE.
    postgres_pool_size: int = 10
    postgres_connect_timeout: float = 10.0
    postgres_statement_timeout: float = 30.0
    # Agent turns and model calls are cut off past these (seconds).
    turn_timeout: float = 120.0
    model_timeout: float = 60.0
    socket_ping_interval: float = 25.0
    socket_ping_timeout: float = 20.0
    # What an agent owes and has not answered when it starts is answered within these
    # bounds; a message past them is given up, logged and listed in the agent's logs.
    owed_max_age_minutes: float = 60.0
    owed_max_count: int = 5000
    # A response (or websocket) write that makes no progress for `send_timeout` seconds, and a
    # request body that stalls for `body_timeout` seconds, close the connection.
    send_timeout: float = 30.0
    body_timeout: float = 30.0
    # The lowest level logged (and kept for /api/server/logs and the log stream).
    log_level: int = logging.INFO
    # Each REST answer checked against /api/openapi.json, departures logged as errors
    # (development and tests: JSON answers are buffered for the check).
    contract_check: bool = False
    # The bus, leases and worker addresses of a deployment of several processes.
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    # Everything read, for lookups by name (character settings fall back to nothing here).
    raw: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "eliza.db"

    @property
    def env_file(self) -> Path:
        """The `.env` that `/api/system/env/local` reads and edits."""
        return self.data_dir / ".env"

    @property
    def uploads_root(self) -> Path:
        return self.uploads_dir or self.data_dir / "data" / "uploads"

    @property
    def uploads_agents_dir(self) -> Path:
        return self.uploads_root / "agents"

    @property
    def uploads_channels_dir(self) -> Path:
        return self.uploads_root / "channels"

    @property
    def generated_dir(self) -> Path:
        if self.uploads_dir is not None:
            return self.uploads_dir / "generated"
        return self.data_dir / "data" / "generated"

    @property
    def ui_dir(self) -> Path:
        return self.data_dir / "ui"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> Settings:
        """Read settings: process env > ./.env > $ELIZA_DATA_DIR/.env."""
        process = dict(os.environ if environ is None else environ)
        here = cwd or Path.cwd()
        local = _read_env_file(here / ".env")
        data_dir = Path(process.get("ELIZA_DATA_DIR") or local.get("ELIZA_DATA_DIR") or ".eliza")
        if not data_dir.is_absolute():
            data_dir = here / data_dir
        env = {**_read_env_file(data_dir / ".env"), **local, **process}
        return cls._from_mapping(env, data_dir, here)

    @classmethod
    def _from_mapping(cls, env: Mapping[str, str], data_dir: Path, here: Path) -> Settings:
        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        port_text = get("PORT") or get("SERVER_PORT") or "3000"
        try:
            port = int(port_text)
        except ValueError as exc:
            raise SettingsError(f"PORT/SERVER_PORT is not a number: {port_text!r}") from exc
        plugins = env.get("ELIZA_LOAD_PLUGINS")
        characters = Path(get("ELIZA_CHARACTERS_DIR") or "characters")
        environment = get("ELIZA_ENV") or get("NODE_ENV") or "development"
        ui_default = environment != "production"
        database_url = get("POSTGRES_URL") or get("DATABASE_URL")
        uploads = get("ELIZA_UPLOADS_DIR")
        uploads_dir = None if uploads is None else Path(uploads)
        if uploads_dir is not None and not uploads_dir.is_absolute():
            uploads_dir = here / uploads_dir
        try:
            cluster = ClusterSettings.from_env(get, database_url)
        except ClusterSettingsError as exc:
            raise SettingsError(str(exc)) from None
        return cls(
            host=get("SERVER_HOST") or "127.0.0.1",
            port=port,
            data_dir=data_dir,
            uploads_dir=uploads_dir,
            auth_token=get("ELIZA_SERVER_AUTH_TOKEN"),
            cors_origin=get("CORS_ORIGIN"),
            allowed_hosts=tuple(
                h.strip() for h in (get("ELIZA_ALLOWED_HOSTS") or "").split(",") if h.strip()
            ),
            max_json_bytes=parse_size(get("EXPRESS_MAX_PAYLOAD") or "2mb"),
            max_name_chars=_positive_int(get, "ELIZA_MAX_NAME_CHARS", 256),
            max_message_chars=_positive_int(get, "ELIZA_MAX_MESSAGE_CHARS", 100_000),
            rate_limits_enabled=(get("ELIZA_RATE_LIMIT") or "on").lower() not in _FALSE,
            sessions=SessionSettings(
                default_timeout_minutes=_clamped_minutes(
                    env, "SESSION_DEFAULT_TIMEOUT_MINUTES", 30, 1, 10080
                ),
                min_timeout_minutes=_clamped_minutes(env, "SESSION_MIN_TIMEOUT_MINUTES", 5, 1, 60),
                max_timeout_minutes=_clamped_minutes(
                    env, "SESSION_MAX_TIMEOUT_MINUTES", 1440, 60, 10080
                ),
                max_duration_minutes=_clamped_minutes(
                    env, "SESSION_MAX_DURATION_MINUTES", 720, 60, 20160
                ),
                warning_threshold_minutes=_clamped_minutes(
                    env, "SESSION_WARNING_THRESHOLD_MINUTES", 5, 1, 60
                ),
                cleanup_interval_minutes=_clamped_minutes(
                    env, "SESSION_CLEANUP_INTERVAL_MINUTES", 5, 1, 60
                ),
            ),
            default_agent=parse_bool(get("ELIZA_DEFAULT_AGENT"), True),
            characters_dir=characters if characters.is_absolute() else here / characters,
            load_plugins=None
            if plugins is None
            else tuple(p.strip() for p in plugins.split(",") if p.strip()),
            trace_plugins=parse_bool(get("ELIZA_TRACE_PLUGINS"), False),
            ui_enabled=parse_bool(get("ELIZA_UI_ENABLE"), ui_default),
            environment=environment,
            secret_salt=get("SECRET_SALT"),
            database_url=database_url,
            postgres_pool_size=_positive_int(get, "POSTGRES_POOL_SIZE", 10),
            postgres_connect_timeout=_positive(get("POSTGRES_CONNECT_TIMEOUT"),
                                               "POSTGRES_CONNECT_TIMEOUT", 10.0),
            postgres_statement_timeout=_positive(get("POSTGRES_STATEMENT_TIMEOUT"),
                                                 "POSTGRES_STATEMENT_TIMEOUT", 30.0),
            turn_timeout=float(get("ELIZA_TURN_TIMEOUT") or 120),
            model_timeout=float(get("ELIZA_MODEL_TIMEOUT") or 60),
            socket_ping_interval=float(get("ELIZA_SOCKET_PING_INTERVAL") or 25),
            socket_ping_timeout=float(get("ELIZA_SOCKET_PING_TIMEOUT") or 20),
            owed_max_age_minutes=_positive(get("ELIZA_OWED_MAX_AGE_MINUTES"),
                                           "ELIZA_OWED_MAX_AGE_MINUTES", 60.0),
            owed_max_count=int(_positive(get("ELIZA_OWED_MAX_COUNT"), "ELIZA_OWED_MAX_COUNT",
                                         5000)),
            send_timeout=_positive(get("ELIZA_SEND_TIMEOUT"), "ELIZA_SEND_TIMEOUT", 30.0),
            body_timeout=_positive(get("ELIZA_BODY_TIMEOUT"), "ELIZA_BODY_TIMEOUT", 30.0),
            log_level=parse_log_level(get("LOG_LEVEL")),
            contract_check=parse_bool(get("ELIZA_CONTRACT_CHECK"), False),
            cluster=cluster,
            raw=dict(env),
        )


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}
