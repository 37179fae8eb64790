"""Settings: the defaults, the setting names the original ElizaOS server reads, and the sources'
order (process env > ./.env > $ELIZA_DATA_DIR/.env)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eliza.settings import RateLimit, Settings, SettingsError, parse_size


def test_defaults(tmp_path: Path) -> None:
    s = Settings.from_env(environ={}, cwd=tmp_path)
    assert (s.host, s.port) == ("127.0.0.1", 3000)
    assert s.data_dir == tmp_path / ".eliza"
    assert s.env_file == tmp_path / ".eliza" / ".env"
    assert s.auth_token is None
    assert s.max_json_bytes == 2 * 1024 * 1024
    assert s.max_upload_bytes == 50 * 1024 * 1024
    assert s.rate_limits_enabled
    assert s.api_rate_limit == RateLimit(1000, 900)
    assert s.file_rate_limit == RateLimit(100, 300)
    assert s.upload_rate_limit == RateLimit(50, 900)
    assert s.channel_rate_limit == RateLimit(200, 600)
    assert s.default_agent is True
    assert s.characters_dir == tmp_path / "characters"
    assert s.load_plugins is None
    assert s.environment == "development"
    assert s.ui_enabled
    assert s.sessions.default_timeout_minutes == 30
    assert s.sessions.max_duration_minutes == 720


def test_port_wins_over_server_port(tmp_path: Path) -> None:
    s = Settings.from_env(environ={"PORT": "4000", "SERVER_PORT": "5000",
                                   "SERVER_HOST": "0.0.0.0"}, cwd=tmp_path)
    assert (s.host, s.port) == ("0.0.0.0", 4000)
    assert Settings.from_env(environ={"SERVER_PORT": "5000"}, cwd=tmp_path).port == 5000
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env(environ={"PORT": "http"}, cwd=tmp_path)


@pytest.mark.parametrize(("text", "size"), [("2mb", 2 * 1024**2), ("512kb", 512 * 1024),
                                            ("100", 100), ("1.5MB", 1536 * 1024),
                                            (" 10 b ", 10), ("1gb", 1024**3)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_bad_size_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(environ={"EXPRESS_MAX_PAYLOAD": "lots"}, cwd=tmp_path)
    s = Settings.from_env(environ={"EXPRESS_MAX_PAYLOAD": "1kb"}, cwd=tmp_path)
    assert s.max_json_bytes == 1024


def test_sources_in_order(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / ".env").write_text("ELIZA_DATA_DIR=data\nPORT=4001\nSERVER_HOST=10.0.0.1\n")
    (data / ".env").write_text("PORT=4002\nSERVER_HOST=10.0.0.2\nELIZA_SERVER_AUTH_TOKEN=t\n")
    s = Settings.from_env(environ={"SERVER_HOST": "10.0.0.3"}, cwd=tmp_path)
    assert s.data_dir == data
    assert s.host == "10.0.0.3"  # process env
    assert s.port == 4001  # ./.env over the data dir's
    assert s.auth_token == "t"  # only in the data dir's .env
    assert s.raw["ELIZA_SERVER_AUTH_TOKEN"] == "t"


@pytest.mark.parametrize("value", ["off", "false", "0", "OFF"])
def test_rate_limits_switch_off(tmp_path: Path, value: str) -> None:
    assert not Settings.from_env(environ={"ELIZA_RATE_LIMIT": value},
                                 cwd=tmp_path).rate_limits_enabled


def test_named_settings(tmp_path: Path) -> None:
    s = Settings.from_env(environ={
        "ELIZA_DEFAULT_AGENT": "false", "ELIZA_CHARACTERS_DIR": "/srv/chars",
        "ELIZA_LOAD_PLUGINS": "hello, openai,", "NODE_ENV": "production",
        "ELIZA_SERVER_AUTH_TOKEN": "", "POSTGRES_URL": "postgresql://x/y",
        "SESSION_DEFAULT_TIMEOUT_MINUTES": "1", "SESSION_MAX_DURATION_MINUTES": "abc",
    }, cwd=tmp_path)
    assert s.default_agent is False
    assert s.characters_dir == Path("/srv/chars")
    assert s.load_plugins == ("hello", "openai")
    assert s.environment == "production"
    assert not s.ui_enabled
    assert s.auth_token is None  # empty means off
    assert s.database_url == "postgresql://x/y"
    assert s.sessions.default_timeout_minutes == 1
    assert s.sessions.max_duration_minutes == 720
    assert Settings.from_env(environ={"ELIZA_LOAD_PLUGINS": ""}, cwd=tmp_path).load_plugins == ()
    env = {"ELIZA_ENV": "staging", "NODE_ENV": "production", "ELIZA_UI_ENABLE": "true"}
    s = Settings.from_env(environ=env, cwd=tmp_path)
    assert s.environment == "staging"
    assert s.ui_enabled
    with pytest.raises(SettingsError):
        Settings.from_env(environ={"ELIZA_DEFAULT_AGENT": "perhaps"}, cwd=tmp_path)


def test_postgres_url_wins_over_its_alias_and_the_pool_settings_are_read(tmp_path: Path
                                                                          ) -> None:
    both = Settings.from_env(environ={"POSTGRES_URL": "postgresql://a/main",
                                      "DATABASE_URL": "postgresql://b/alias"}, cwd=tmp_path)
    assert both.database_url == "postgresql://a/main"
    alias = Settings.from_env(environ={"DATABASE_URL": "postgresql://b/alias"}, cwd=tmp_path)
    assert alias.database_url == "postgresql://b/alias"
    assert Settings.from_env(environ={}, cwd=tmp_path).database_url is None  # SQLite
    tuned = Settings.from_env(environ={"POSTGRES_POOL_SIZE": "3", "POSTGRES_CONNECT_TIMEOUT":
                                       "2.5", "POSTGRES_STATEMENT_TIMEOUT": "9"}, cwd=tmp_path)
    assert (tuned.postgres_pool_size, tuned.postgres_connect_timeout,
            tuned.postgres_statement_timeout) == (3, 2.5, 9.0)
    for name in ("POSTGRES_POOL_SIZE", "POSTGRES_CONNECT_TIMEOUT"):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(environ={name: "0"}, cwd=tmp_path)
