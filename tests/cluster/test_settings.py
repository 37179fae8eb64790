"""The deployment's settings: the bus follows the store, and a bad value is refused with
a message naming the setting."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from eliza.settings import Settings, SettingsError

PG = "postgresql://postgres@127.0.0.1:5432/test"


def test_the_bus_is_in_process_on_sqlite_and_postgresql_with_postgresql(tmp_path: Path) -> None:
    assert Settings.from_env({}, cwd=tmp_path).cluster.bus == "memory"
    assert not Settings.from_env({}, cwd=tmp_path).cluster.shared
    on_pg = Settings.from_env({"POSTGRES_URL": PG}, cwd=tmp_path).cluster
    assert on_pg.bus == "postgres"
    assert on_pg.shared
    chosen = Settings.from_env({"POSTGRES_URL": PG, "ELIZA_BUS": "Redis",
                                "REDIS_URL": "redis://cache:6379/3"}, cwd=tmp_path).cluster
    assert (chosen.bus, chosen.redis_url) == ("redis", "redis://cache:6379/3")


@pytest.mark.parametrize(("env", "named"), [
    ({"ELIZA_BUS": "redis"}, "set POSTGRES_URL"),
    ({"POSTGRES_URL": PG, "ELIZA_BUS": "nats"}, "ELIZA_BUS must be one of"),
    ({"ELIZA_LEASE_SECONDS": "0.5"}, "ELIZA_LEASE_SECONDS must be between 1 and 60"),
    ({"ELIZA_LEASE_SECONDS": "soon"}, "ELIZA_LEASE_SECONDS is not a number"),
    ({"ELIZA_WORKERS": "0"}, "ELIZA_WORKERS must be at least 1"),
    ({"ELIZA_STOP_TIMEOUT": "0"}, "ELIZA_STOP_TIMEOUT must be between 1 and 3600: 0"),
    ({"ELIZA_TRUSTED_PROXIES": "10.0.0.1, lb.example"}, "not an address or network: 'lb."),
])
def test_a_bad_deployment_setting_is_refused_by_name(tmp_path: Path, env: dict[str, str],
                                                    named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env, cwd=tmp_path)


def test_the_stop_timeout_is_30_s_unless_set(tmp_path: Path) -> None:
    assert Settings.from_env({}, cwd=tmp_path).cluster.stop_timeout == 30.0
    chosen = Settings.from_env({"ELIZA_STOP_TIMEOUT": "12.5"}, cwd=tmp_path).cluster
    assert chosen.stop_timeout == 12.5


def test_trusted_proxies_are_addresses_and_networks(tmp_path: Path) -> None:
    cluster = Settings.from_env({"ELIZA_TRUSTED_PROXIES": "10.0.0.5, 192.168.0.0/16, ::1"},
                                cwd=tmp_path).cluster
    assert ipaddress.ip_address("192.168.3.4") in cluster.trusted_proxies[1]
    assert [str(n) for n in cluster.trusted_proxies] == ["10.0.0.5/32", "192.168.0.0/16",
                                                         "::1/128"]
