"""Use cases of the inventory and users modules."""

from __future__ import annotations

import json

import pytest

from contracts.inventory import QuantityInvalid, SkuNotFound, StockLevel
from contracts.orders import OrderCreated, OrderedItem
from contracts.users import EmailTaken, NewUser, UserNotFound
from monolith.modules.inventory import module as inventory_module
from monolith.modules.inventory.service import InventoryService
from monolith.modules.users import module as users_module
from monolith.modules.users.service import UsersService


def _created(order_id: str, **lines: int) -> OrderCreated:
    items = tuple(OrderedItem(sku=sku, quantity=q) for sku, q in lines.items())
    return OrderCreated(order_id=order_id, user_id="u", user_email="u@x.io", items=items)


def test_an_order_is_reserved_whole_or_not_at_all_and_the_answer_published(memory_uow) -> None:  # type: ignore[no-untyped-def]
    uow = memory_uow(inventory_module)
    inventory = InventoryService(uow)
    inventory.set_stock("A", StockLevel(quantity=3))
    with uow() as unit:
        inventory.reserve_for_order(unit, _created("o1", A=5, GHOST=1))  # short: none held
        inventory.reserve_for_order(unit, _created("o2", A=3))
        inventory.reserve_for_order(unit, _created("o2", A=3))  # seen before: nothing more
        unit.commit()
    stock = inventory.get_stock("A")
    assert (stock.on_hand, stock.reserved, stock.available) == (3, 3, 0)
    with uow() as unit:
        rows = unit.session.execute(
            inventory_module.metadata.tables["inventory_reservations"].select()
        ).mappings().all()
        published = unit.session.execute(inventory_module.outbox.select()).mappings().all()
    assert {(r["order_id"], r["sku"]): (r["reserved"], r["shortfall"]) for r in rows} == {
        ("o1", "A"): (0, 2), ("o1", "GHOST"): (0, 1), ("o2", "A"): (3, 0)}
    answers = [(m["event_type"], json.loads(m["payload"])) for m in published]
    assert [(kind, body["order_id"]) for kind, body in answers] == [
        ("stock.reservation_failed", "o1"), ("stock.reserved", "o2")]
    assert answers[0][1]["shortages"] == [{"sku": "A", "requested": 5, "available": 3},
                                          {"sku": "GHOST", "requested": 1, "available": 0}]
    assert answers[1][1]["items"] == [{"sku": "A", "quantity": 3}]


def test_availability_answers_and_rejects_bad_quantities(memory_uow) -> None:  # type: ignore[no-untyped-def]
    inventory = InventoryService(memory_uow(inventory_module))
    inventory.set_stock("A", StockLevel(quantity=2))
    answer = inventory.check_availability("A", 3)
    assert (answer.available, answer.in_stock) == (2, False)
    assert inventory.check_availability("A", 2).in_stock
    with pytest.raises(QuantityInvalid):
        inventory.check_availability("A", 0)
    with pytest.raises(SkuNotFound):
        inventory.check_availability("nope", 1)


def test_setting_stock_twice_replaces_the_quantity(memory_uow) -> None:  # type: ignore[no-untyped-def]
    inventory = InventoryService(memory_uow(inventory_module))
    inventory.set_stock("A", StockLevel(quantity=2))
    assert inventory.set_stock("A", StockLevel(quantity=7)).on_hand == 7


def test_emails_are_unique_whatever_their_case(memory_uow) -> None:  # type: ignore[no-untyped-def]
    users = UsersService(memory_uow(users_module))
    ann = users.register_user(NewUser(email="ann@example.com", name="Ann"))
    with pytest.raises(EmailTaken):
        users.register_user(NewUser(email="ANN@example.com", name="Other Ann"))
    assert users.get_user(ann.id) == ann
    with pytest.raises(UserNotFound):
        users.get_user("missing")
