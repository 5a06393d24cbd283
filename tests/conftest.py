"""Fixtures shared by every test: real services, each test with its own data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from migration.runtime.modules import discover_modules
from migration.runtime.table_guard import TableGuard, table_owners
from migration.runtime.tracing import tracing_on
from tests.support.services import fresh_postgres_database, fresh_redis_prefix
from tests.support.shops import Shop, build_shop


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


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """``shop(variant)``: the folder of a sample shop (tests/support/shops.py), built once
    per session; tests that change a shop build their own with ``build_shop``."""
    folder, built = tmp_path_factory.mktemp("shops"), {}

    def variant(name: str) -> Path:
        if name not in built:
            built[name] = build_shop(name, folder)
        return built[name]

    return variant


@pytest.fixture(scope="session", autouse=True)
def carve_table_guard() -> Iterator[TableGuard]:
    """The runtime table guard, on for every test: a module's session that runs a
    statement on another module's table fails the test."""
    guard = TableGuard(table_owners(discover_modules("monolith.modules").values()))
    guard.install()
    yield guard
    guard.remove()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans of this test, from an SDK tracer provider (installed once per process)."""
    if not tracing_on():
        trace.set_tracer_provider(TracerProvider())
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    trace.get_tracer_provider().add_span_processor(processor)  # type: ignore[attr-defined]
    yield exporter
    exporter.shutdown()  # later tests in this process record nothing here
