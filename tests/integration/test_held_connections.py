"""Queue worker threads keep one connection between messages, and give it back when
they should: idle, invalidated, nested, or stopping."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from migration.runtime import held_connections
from migration.runtime.db import Database
from migration.runtime.unit_of_work import UnitOfWork
from monolith.modules.users import module as users_module


@pytest.fixture
def units(postgres_url: str):  # type: ignore[no-untyped-def]
    database = Database("users", postgres_url)
    users_module.metadata.create_all(database.engine)
    yield lambda: UnitOfWork("users", database.sessions, users_module.outbox,
                             users_module.inbox)
    database.dispose()


def _backend_pid(uow: UnitOfWork) -> int:
    return uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _in_worker_thread(work: Callable[[], Any]) -> Any:
    """Run ``work`` in a thread that holds connections, as dramatiq's worker threads do."""
    result: list[Any] = []

    def run() -> None:
        held_connections.hold_in_this_thread()
        try:
            result.append(work())
        finally:
            held_connections.release_this_thread()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result[0]


def test_a_worker_thread_reuses_its_connection_for_each_unit_of_work(units) -> None:  # type: ignore[no-untyped-def]
    def two_units() -> tuple[Any, Any]:
        with units() as first:
            connection = first.session.connection()
            first.commit()
        with units() as second:
            return connection, second.session.connection()

    first, second = _in_worker_thread(two_units)
    assert first is second  # no pool checkout, so no pre-ping round trip


def test_a_nested_unit_of_work_gets_a_connection_of_its_own(units) -> None:  # type: ignore[no-untyped-def]
    def nested() -> tuple[int, int]:
        with units() as outer:
            outer_pid = _backend_pid(outer)
            with units() as inner:
                return outer_pid, _backend_pid(inner)

    outer, inner = _in_worker_thread(nested)
    assert outer != inner


def test_an_idle_connection_goes_back_to_the_pool(units, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(held_connections, "IDLE_SECONDS", 0.0)

    def two_units() -> tuple[Any, Any]:
        with units() as first:
            first_connection = first.session.connection()
            first.commit()
        with units() as second:
            return first_connection, second.session.connection()

    first, second = _in_worker_thread(two_units)
    assert first is not second
    assert first.closed


def test_other_threads_use_the_pool_as_before(units) -> None:  # type: ignore[no-untyped-def]
    with units() as first:
        first_connection = first.session.connection()
    with units() as second:
        assert second.session.connection() is not first_connection
