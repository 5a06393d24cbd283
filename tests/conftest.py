"""Fixtures shared by every test: real services, each test with its own data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from migration.runtime.modules import discover_modules
from migration.runtime.table_guard import TableGuard, table_owners
from tests.support.services import fresh_postgres_database, fresh_redis_prefix


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty PostgreSQL database, dropped after the test."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def redis_prefix() -> Iterator[tuple[redis.Redis, str]]:
    """A Redis client and a key prefix of this test's own."""
    with fresh_redis_prefix() as pair:
        yield pair


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file of this test's own."""
    return f"sqlite:///{tmp_path / 'carve.db'}"


@pytest.fixture(scope="session", autouse=True)
def carve_table_guard() -> Iterator[TableGuard]:
    """The runtime table guard, on for every test: a module's session that runs a
    statement on another module's table fails the test."""
    guard = TableGuard(table_owners(discover_modules("monolith.modules").values()))
    guard.install()
    yield guard
    guard.remove()
