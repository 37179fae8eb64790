"""The limits' settings (docs/running.md, "Limits"): defaults, overrides, bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from eliza.settings import Settings, SettingsError


def test_limits_default_to_30_seconds_and_can_be_set(tmp_path: Path) -> None:
    defaults = Settings.from_env({}, cwd=tmp_path)
    assert (defaults.send_timeout, defaults.body_timeout) == (30.0, 30.0)
    chosen = Settings.from_env({"ELIZA_SEND_TIMEOUT": "2.5", "ELIZA_BODY_TIMEOUT": "7"},
                               cwd=tmp_path)
    assert (chosen.send_timeout, chosen.body_timeout) == (2.5, 7.0)


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_a_limit_that_is_not_a_positive_number_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="ELIZA_SEND_TIMEOUT"):
        Settings.from_env({"ELIZA_SEND_TIMEOUT": value}, cwd=tmp_path)
