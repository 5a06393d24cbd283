"""The contract declarations every binding is generated from."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts import ContractError, Event
from contracts.inventory import InsufficientInventory, Inventory
from contracts.orders import OrderCreated, OrderedItem, Orders
from contracts.users import UserNotFound


def test_operations_know_where_each_parameter_travels() -> None:
    ops = {op.name: op for op in Inventory.operations()}
    assert [(p.name, p.location) for p in ops["set_stock"].parameters] == [
        ("sku", "path"), ("level", "body")
    ]
    assert [(p.name, p.location) for p in ops["check_availability"].parameters] == [
        ("sku", "path"), ("quantity", "query")
    ]
    assert ops["check_availability"].parameters[1].default == 1
    assert ops["set_stock"].idempotent and ops["check_availability"].idempotent


def test_post_operations_are_not_idempotent_and_carry_their_status() -> None:
    place = next(op for op in Orders.operations() if op.name == "place_order")
    assert (place.method, place.status_code, place.idempotent) == ("POST", 201, False)
    assert Orders.prefix() == "/api/v1/orders"


def test_errors_are_found_again_by_their_code() -> None:
    assert ContractError.for_code("user.not_found") is UserNotFound
    body = InsufficientInventory("2 requested", sku="A").problem()
    assert body == {
        "type": "urn:carve:problem:inventory.insufficient",
        "title": "Insufficient inventory",
        "status": 409,
        "detail": "2 requested",
        "code": "inventory.insufficient",
        "sku": "A",
    }


def test_events_are_frozen_registered_and_round_trip_through_json() -> None:
    event = OrderCreated(order_id="o1", user_id="u1", user_email="a@b.c",
                         items=(OrderedItem(sku="A", quantity=2),))
    with pytest.raises(ValidationError):
        event.order_id = "other"  # type: ignore[misc]
    assert Event.class_for("order.created") is OrderCreated
    again = OrderCreated.model_validate(event.payload())
    assert again == event
    assert len(event.message_id) == 32
