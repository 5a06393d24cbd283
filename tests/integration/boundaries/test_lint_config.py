"""The lint reads carve.toml without pydantic only when pydantic would accept it as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration.boundaries.lint_config import SHAPE, LintSettings, read_settings, shape_of
from migration.runtime.config import CarveConfig, load_config
from migration.runtime.errors import ConfigError

FULL = '''[project]
modules = "shop.modules"
shared = ["shop.contracts"]
allowed_third_party = ["sqlalchemy"]

[database]
url = "postgresql://localhost/shop"

[broker]
max_retries = 0
heartbeat_timeout_ms = 1000

[modules.orders]
binding = "remote"
url = "http://orders:8000"

[events."orders.placed"]
transport = "queue"

[gateway]
port = 65535
'''


def test_the_shape_is_the_models_own() -> None:
    assert shape_of(CarveConfig) == SHAPE, (
        "carve.toml's models changed: paste `python -m migration.boundaries.lint_config` "
        "into SHAPE")


@pytest.mark.parametrize("text", ["", "[project]\n", FULL, '[project]\nsource = "src"\n'])
def test_a_valid_file_is_read_without_pydantic_and_gives_its_project(
    tmp_path: Path, text: str
) -> None:
    file = tmp_path / "carve.toml"
    file.write_text(text)
    read = read_settings(file)
    assert isinstance(read, LintSettings)
    assert vars(read.project) == load_config(file).project.model_dump()


def test_without_a_file_the_defaults_are_the_models(tmp_path: Path) -> None:
    assert vars(read_settings(tmp_path / "carve.toml").project) == (
        CarveConfig().project.model_dump())


@pytest.mark.parametrize("text", [
    '[gateway]\nport = "8080"\n',  # pydantic coerces it: its verdict, not a guess
    "[broker]\nmax_retries = true\n",
    '[project]\npath = "x"\n',
    'path = "elsewhere"\n',
    "[project]\nshared = [1]\n",
])
def test_anything_pydantic_might_coerce_is_left_to_it(tmp_path: Path, text: str) -> None:
    file = tmp_path / "carve.toml"
    file.write_text(text)
    try:
        expected: object = load_config(file).project.model_dump()
    except ConfigError as exc:
        expected = str(exc)
    try:
        read = read_settings(file)
    except ConfigError as exc:
        assert str(exc) == expected
    else:
        assert not isinstance(read, LintSettings)
        assert read.project.model_dump() == expected


@pytest.mark.parametrize("text", [
    "[project\n", '[gateway]\nport = 0\n', '[modules.orders]\nbinding = "far"\n',
    "[broker]\nmax_retries = -1\n", "[unknown]\n", '[project]\nmodules = 3\n',
])
def test_an_invalid_file_fails_with_the_same_message(tmp_path: Path, text: str) -> None:
    file = tmp_path / "carve.toml"
    file.write_text(text)
    with pytest.raises(ConfigError) as expected:
        load_config(file)
    with pytest.raises(ConfigError) as read:
        read_settings(file)
    assert str(read.value) == str(expected.value)
