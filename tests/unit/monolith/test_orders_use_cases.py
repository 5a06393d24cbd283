"""The seed's createOrder flow and the saga's outcome, with fake users and inventory."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from contracts.inventory import (
    InsufficientInventory,
    ReservedLine,
    SkuNotFound,
    StockReservationFailed,
    StockReserved,
    StockShortage,
)
from contracts.orders import OrderLine, OrderNotFound, PlaceOrder
from contracts.users import NewUser, UserNotFound
from monolith.modules.orders import module as orders_module
from monolith.modules.orders.saga import OrderNotYetPlaced
from monolith.modules.orders.service import OrdersService
from monolith.modules.orders.tables import orders
from tests.fakes import FakeInventory, FakeUsers


@pytest.fixture
def setup(memory_uow):  # type: ignore[no-untyped-def]
    users, inventory = FakeUsers(), FakeInventory(A=5, B=1)
    uow = memory_uow(orders_module)
    user = users.register_user(NewUser(email="Ann@Example.com", name="Ann"))
    return OrdersService(uow, users, inventory), uow, user, inventory


def _count(uow, table) -> int:  # type: ignore[no-untyped-def]
    with uow() as unit:
        return unit.session.execute(select(func.count()).select_from(table)).scalar_one()


def test_placing_an_order_keeps_the_email_and_publishes_order_created(setup) -> None:  # type: ignore[no-untyped-def]
    service, uow, user, _ = setup
    order = service.place_order(PlaceOrder(user_id=user.id, items=[OrderLine(sku="A", quantity=2)]))
    assert order.user_email == "ann@example.com"
    assert service.get_order(order.id) == order
    with uow() as unit:
        row = unit.session.execute(select(orders_module.outbox)).mappings().one()
    assert row["event_type"] == "order.created"
    payload = json.loads(row["payload"])
    assert payload["order_id"] == order.id
    assert payload["items"] == [{"sku": "A", "quantity": 2}]
    assert payload["message_id"] == row["id"]


def test_unknown_user_writes_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    service, uow, _, _ = setup
    with pytest.raises(UserNotFound):
        service.place_order(PlaceOrder(user_id="nobody", items=[OrderLine(sku="A", quantity=1)]))
    assert _count(uow, orders) == 0
    assert _count(uow, orders_module.outbox) == 0


def test_insufficient_stock_on_any_line_writes_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    service, uow, user, _ = setup
    command = PlaceOrder(user_id=user.id, items=[OrderLine(sku="A", quantity=1),
                                                 OrderLine(sku="B", quantity=2)])
    with pytest.raises(InsufficientInventory) as raised:
        service.place_order(command)
    assert raised.value.extra == {"sku": "B", "requested": 2, "available": 1}
    assert _count(uow, orders) == 0
    assert _count(uow, orders_module.outbox) == 0


def test_lines_of_the_same_sku_are_checked_together(setup) -> None:  # type: ignore[no-untyped-def]
    service, _, user, inventory = setup
    command = PlaceOrder(user_id=user.id, items=[OrderLine(sku="B", quantity=1),
                                                 OrderLine(sku="B", quantity=1)])
    with pytest.raises(InsufficientInventory):
        service.place_order(command)
    assert inventory.checks == [("B", 2)]


def test_unknown_sku_is_reported_as_such(setup) -> None:  # type: ignore[no-untyped-def]
    service, _, user, _ = setup
    with pytest.raises(SkuNotFound):
        service.place_order(PlaceOrder(user_id=user.id, items=[OrderLine(sku="Z", quantity=1)]))


def test_orders_are_listed_per_user_newest_first(setup) -> None:  # type: ignore[no-untyped-def]
    service, _, user, _ = setup
    command = PlaceOrder(user_id=user.id, items=[OrderLine(sku="A", quantity=1)])
    first, second = service.place_order(command), service.place_order(command)
    assert [o.id for o in service.list_orders(user.id)] == [second.id, first.id]
    assert service.list_orders("someone-else") == []
    with pytest.raises(OrderNotFound):
        service.get_order("missing")


def _announced(uow) -> list[str]:  # type: ignore[no-untyped-def]
    with uow() as unit:
        return list(unit.session.execute(select(orders_module.outbox.c.event_type)).scalars())


def test_the_first_answer_settles_a_pending_order_once(setup) -> None:  # type: ignore[no-untyped-def]
    service, uow, user, _ = setup
    order = service.place_order(PlaceOrder(user_id=user.id, items=[OrderLine(sku="B",
                                                                             quantity=1)]))
    short = StockReservationFailed(order_id=order.id, shortages=(
        StockShortage(sku="B", requested=1, available=0),))
    with uow() as unit:
        service.reject(unit, short)
        service.confirm(unit, StockReserved(order_id=order.id, items=(
            ReservedLine(sku="B", quantity=1),)))  # too late: changes nothing
        unit.commit()
    settled = service.get_order(order.id)
    assert (settled.status, settled.reason) == (
        "rejected", "insufficient stock (B: 1 requested, 0 available)")
    assert _announced(uow) == ["order.created", "order.rejected"]
    with uow() as unit, pytest.raises(OrderNotYetPlaced):
        service.confirm(unit, StockReserved(order_id="not-yet", items=()))
