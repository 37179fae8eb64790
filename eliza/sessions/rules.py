"""The original sessions API's timeout rules, as pure functions of epoch-ms times.

Nothing here reads a clock or the store, so the rules are tested with plain numbers and the
service can run on an injected clock.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..settings import SessionSettings
from .errors import SessionValidationError

MINUTE_MS = 60_000
# ElizaOS caps a requested max duration at two days whatever the settings say.
MAX_DURATION_CAP_MINUTES = 2880
_NUMERIC_KEYS = ("timeoutMinutes", "maxDurationMinutes", "warningThresholdMinutes")


@dataclass(frozen=True)
class TimeoutConfig:
    """SessionTimeoutConfig with every field resolved (fields carry their wire names)."""

    timeoutMinutes: int
    autoRenew: bool
    maxDurationMinutes: int
    warningThresholdMinutes: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], defaults: SessionSettings) -> TimeoutConfig:
        return merge(defaults, {}, data)


def _number(value: Any) -> float | None:
    """Number() as ElizaOS applies it: numbers and numeric strings; anything else is NaN."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and value.strip():
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip().lower() == "true"
    return None


def validate_request(config: Any, defaults: SessionSettings) -> dict[str, Any]:
    """Check a client's timeoutConfig (create and PATCH timeout): an object whose numeric
    fields are numbers or numeric strings, `autoRenew` a boolean, and a timeout inside
    [min, max]. Returns it unchanged."""
    if config is None:
        return {}
    fmt = "Invalid timeout configuration: Invalid timeout configuration format"
    if not isinstance(config, dict):
        raise SessionValidationError(fmt)
    for key in _NUMERIC_KEYS:
        if config.get(key) is not None and _number(config[key]) is None:
            raise SessionValidationError(fmt)
    if config.get("autoRenew") is not None and not isinstance(config["autoRenew"], bool):
        raise SessionValidationError(fmt)
    timeout = _number(config.get("timeoutMinutes"))
    lo, hi = defaults.min_timeout_minutes, defaults.max_timeout_minutes
    if timeout is not None and not lo <= timeout <= hi:
        raise SessionValidationError(
            f"Invalid timeout configuration: Timeout must be between {lo} and {hi} minutes"
        )
    return config


def merge(
    defaults: SessionSettings, agent: dict[str, Any], request: dict[str, Any]
) -> TimeoutConfig:
    """Request overrides agent overrides server defaults; then clamp to the allowed range."""

    def pick(key: str) -> Any:
        for source in (request, agent):
            if source.get(key) is not None:
                return source[key]
        return None

    timeout = _number(pick("timeoutMinutes"))
    timeout_min = int(timeout) if timeout is not None else defaults.default_timeout_minutes
    timeout_min = max(defaults.min_timeout_minutes,
                      min(defaults.max_timeout_minutes, timeout_min))
    auto = _bool(pick("autoRenew"))
    duration = _number(pick("maxDurationMinutes"))
    duration_min = int(duration) if duration is not None else defaults.max_duration_minutes
    warning = _number(pick("warningThresholdMinutes"))
    warning_min = int(warning) if warning is not None else defaults.warning_threshold_minutes
    return TimeoutConfig(
        timeoutMinutes=timeout_min,
        autoRenew=True if auto is None else auto,
        maxDurationMinutes=max(timeout_min, min(MAX_DURATION_CAP_MINUTES, duration_min)),
        warningThresholdMinutes=max(1, warning_min),
    )


def expires_at(config: TimeoutConfig, *, created_at: int, last_activity: int, now: int) -> int:
    """`base + timeout`, base being the last activity when sessions auto-renew, else the
    creation; never past `created_at + maxDuration`."""
    timeout = config.timeoutMinutes * MINUTE_MS
    max_duration = config.maxDurationMinutes * MINUTE_MS
    base = last_activity if config.autoRenew else created_at
    if (now - created_at) + timeout > max_duration:
        return created_at + max_duration
    return base + timeout


def is_expired(expiry: int, now: int) -> bool:
    return now >= expiry


def time_remaining(expiry: int, now: int) -> int:
    return max(0, expiry - now)


def is_near_expiration(config: TimeoutConfig, expiry: int, now: int) -> bool:
    remaining = expiry - now
    return 0 < remaining <= config.warningThresholdMinutes * MINUTE_MS


def can_renew(config: TimeoutConfig, *, created_at: int, now: int, force: bool = False) -> bool:
    """Renewal needs autoRenew (unless forced, as `POST /renew` does) and a session younger
    than its max duration."""
    if not (config.autoRenew or force):
        return False
    return now - created_at < config.maxDurationMinutes * MINUTE_MS
