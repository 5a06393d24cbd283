"""Reading carve.toml: clear errors naming the file and key, and the URL precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration.runtime.config import CarveConfig, load_config
from migration.runtime.db import create_module_engine, module_database_url
from migration.runtime.errors import ConfigError, UnknownModule
from migration.runtime.modules import discover_modules, select_module


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "carve.toml"
    path.write_text(text)
    return path


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[modules.users\nbinding = 'local'\n")
    with pytest.raises(ConfigError, match=r"carve\.toml: not valid TOML"):
        load_config(path)


def test_a_wrong_value_names_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "[modules.orders]\nbinding = 'elsewhere'\n")
    with pytest.raises(ConfigError, match=r"key 'modules\.orders\.binding'"):
        load_config(path)


def test_an_unknown_key_is_refused_not_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path, "[database]\nurl = 'sqlite://'\nuser = 'x'\n")
    with pytest.raises(ConfigError, match=r"key 'database\.user'"):
        load_config(path)


def test_a_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")


def test_event_transport_defaults_to_inprocess(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "[events.'order.created']\ntransport = 'queue'\n"))
    assert config.transport("order.created") == "queue"
    assert config.transport("user.registered") == "inprocess"


def test_database_url_precedence() -> None:
    config = CarveConfig.model_validate(
        {"database": {"url": "sqlite:///all.db"}, "modules": {"orders": {"database": "sqlite:///o.db"}}}
    )
    assert module_database_url("users", config, {}) == "sqlite:///all.db"
    assert module_database_url("users", config, {"DATABASE_URL": "postgresql://h/db"}) == (
        "postgresql://h/db"
    )
    assert module_database_url("orders", config, {"DATABASE_URL": "postgresql://h/db"}) == (
        "sqlite:///o.db"
    )
    env = {"DATABASE_URL": "postgresql://h/db", "DATABASE_URL_ORDERS": "postgresql://h/orders"}
    assert module_database_url("orders", config, env) == "postgresql://h/orders"


def test_bad_database_urls_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not a valid SQLAlchemy URL"):
        create_module_engine("not a url")
    with pytest.raises(ConfigError, match="no driver"):
        create_module_engine("nosuchdb://host/x")


def test_unknown_module_lists_the_known_ones() -> None:
    specs = discover_modules("monolith.modules")
    assert list(specs) == ["inventory", "notifications", "orders", "users"]
    with pytest.raises(UnknownModule, match="modules: inventory, notifications, orders, users"):
        select_module(specs, "payments")


def test_relative_sqlite_files_live_beside_carve_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, "[database]\nurl = 'sqlite:///data/app.db'\n"
                            "[modules.orders]\ndatabase = 'sqlite:///orders.db'\n"
                            "[modules.users]\ndatabase = 'sqlite:////abs/users.db'\n")
    config = load_config(path)
    assert config.database.url == f"sqlite:///{tmp_path}/data/app.db"
    assert config.module("orders").database == f"sqlite:///{tmp_path}/orders.db"
    assert config.module("users").database == "sqlite:////abs/users.db"


def test_retry_interval_must_be_a_positive_number(tmp_path: Path) -> None:
    from migration.runtime.settings import Settings

    for raw, message in (("abc", "expected a number"), ("0", "more than 0")):
        with pytest.raises(ConfigError, match=message):
            Settings.from_env(environ={"CARVE_RETRY_INTERVAL": raw})
