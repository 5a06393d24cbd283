"""The runtime table guard, on in the test suite, catches cross-module queries."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from migration.runtime.db import Database
from migration.runtime.modules import discover_modules
from migration.runtime.table_guard import ForeignTableAccess, TableGuard
from migration.runtime.unit_of_work import UnitOfWork


@pytest.fixture
def database(postgres_url: str):  # type: ignore[no-untyped-def]
    database = Database("orders", postgres_url)
    for spec in discover_modules("monolith.modules").values():
        spec.metadata.create_all(database.engine)
    yield database
    database.dispose()


def orders_unit_of_work(database: Database) -> UnitOfWork:
    spec = discover_modules("monolith.modules")["orders"]
    return UnitOfWork("orders", database.sessions, spec.outbox, spec.inbox)


def test_a_module_reading_another_modules_table_fails(
    database: Database, carve_table_guard: TableGuard
) -> None:
    users = discover_modules("monolith.modules")["users"].metadata.tables["users_users"]
    with orders_unit_of_work(database) as uow, pytest.raises(ForeignTableAccess) as caught:
        uow.session.execute(select(users.c.email).where(users.c.id == "u1"))
    assert "'orders'" in str(caught.value) and "'users_users'" in str(caught.value)


def test_a_module_using_its_own_tables_passes(database: Database) -> None:
    orders = discover_modules("monolith.modules")["orders"].metadata.tables["orders_orders"]
    with orders_unit_of_work(database) as uow:
        assert uow.session.execute(select(orders.c.id)).all() == []


def test_a_join_hidden_in_a_subquery_is_caught(database: Database) -> None:
    specs = discover_modules("monolith.modules")
    lines = specs["orders"].metadata.tables["orders_lines"]
    stock = specs["inventory"].metadata.tables["inventory_stock"]
    statement = insert(lines).from_select(["order_id", "sku", "quantity"],
                                          select(stock.c.sku, stock.c.sku, stock.c.on_hand))
    with orders_unit_of_work(database) as uow, pytest.raises(ForeignTableAccess):
        uow.session.execute(statement)


def test_sessions_without_a_module_are_not_checked(database: Database) -> None:
    users = discover_modules("monolith.modules")["users"].metadata.tables["users_users"]
    with database.sessions() as session:
        assert session.execute(select(users.c.id)).all() == []
