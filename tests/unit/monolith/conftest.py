"""Unit-test fixtures: a module's unit of work on an in-memory database."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from migration.runtime.db import Database
from migration.runtime.modules import ModuleSpec
from migration.runtime.unit_of_work import UnitOfWork

UowFactory = Callable[[ModuleSpec], Callable[[], UnitOfWork]]


@pytest.fixture
def memory_uow() -> UowFactory:
    """Make a unit-of-work factory for a module, its tables in an in-memory SQLite."""

    def make(spec: ModuleSpec) -> Callable[[], UnitOfWork]:
        database = Database(spec.name, "sqlite://")
        spec.metadata.create_all(database.engine)
        return lambda: UnitOfWork(spec.name, database.sessions, spec.outbox, spec.inbox)

    return make
