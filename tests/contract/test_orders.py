"""Contract tests of orders, written once and run against every binding.

Users and inventory are collaborators: the tests arrange them through their
contracts, whatever binding stands behind them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from contracts.inventory import InsufficientInventory, Inventory, StockLevel
from contracts.orders import OrderLine, OrderNotFound, Orders, PlaceOrder
from contracts.users import NewUser, UserNotFound, Users

CONTRACT = Orders


@pytest.fixture
def user_id(collaborator: Callable[[type], Any]) -> str:
    users: Users = collaborator(Users)
    return users.register_user(NewUser(email="buyer@example.com", name="Buyer")).id


@pytest.fixture
def stocked(collaborator: Callable[[type], Any]) -> Inventory:
    inventory: Inventory = collaborator(Inventory)
    inventory.set_stock("sku-1", StockLevel(quantity=5))
    inventory.set_stock("sku-2", StockLevel(quantity=1))
    return inventory


def test_an_order_keeps_the_users_email_and_merges_lines(
    binding: Orders, user_id: str, stocked: Inventory
) -> None:
    order = binding.place_order(PlaceOrder(user_id=user_id, items=[
        OrderLine(sku="sku-1", quantity=2), OrderLine(sku="sku-2", quantity=1),
        OrderLine(sku="sku-1", quantity=1),
    ]))
    assert (order.user_email, order.status) == ("buyer@example.com", "pending")
    assert [(line.sku, line.quantity) for line in order.items] == [("sku-1", 3), ("sku-2", 1)]
    # created_at is compared apart: SQLite hands the stored time back without its zone.
    read = binding.get_order(order.id)
    assert read.model_dump(exclude={"created_at"}) == order.model_dump(exclude={"created_at"})


def test_asking_for_more_than_the_stock_is_refused_with_the_figures(
    binding: Orders, user_id: str, stocked: Inventory
) -> None:
    with pytest.raises(InsufficientInventory) as caught:
        binding.place_order(PlaceOrder(user_id=user_id,
                                       items=[OrderLine(sku="sku-2", quantity=4)]))
    assert caught.value.extra == {"sku": "sku-2", "requested": 4, "available": 1}
    assert binding.list_orders(user_id) == []


def test_an_unknown_user_cannot_order(binding: Orders, stocked: Inventory) -> None:
    with pytest.raises(UserNotFound):
        binding.place_order(PlaceOrder(user_id="nobody",
                                       items=[OrderLine(sku="sku-1", quantity=1)]))


def test_a_users_orders_are_listed(binding: Orders, user_id: str, stocked: Inventory) -> None:
    first = binding.place_order(PlaceOrder(user_id=user_id,
                                           items=[OrderLine(sku="sku-1", quantity=1)]))
    second = binding.place_order(PlaceOrder(user_id=user_id,
                                            items=[OrderLine(sku="sku-1", quantity=1)]))
    assert {o.id for o in binding.list_orders(user_id)} == {first.id, second.id}
    assert binding.list_orders("someone-else") == []


def test_an_unknown_order_is_not_found(binding: Orders) -> None:
    with pytest.raises(OrderNotFound):
        binding.get_order("no-such-order")
