"""Use cases of the orders module: the seed's createOrder flow and the saga's outcomes."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import insert, select

from contracts.inventory import (
    InsufficientInventory,
    Inventory,
    StockReservationFailed,
    StockReserved,
)
from contracts.orders import (
    Order,
    OrderConfirmed,
    OrderCreated,
    OrderedItem,
    OrderItem,
    OrderLine,
    OrderNotFound,
    OrderRejected,
    Orders,
    PlaceOrder,
)
from contracts.users import Users
from migration.runtime.unit_of_work import UnitOfWork
from monolith.modules.orders.repository import load_orders
from monolith.modules.orders.saga import rejection_reason, settle
from monolith.modules.orders.tables import order_lines, orders


class OrdersService(Orders):
    """Places orders after asking users and inventory, through their contracts only."""

    def __init__(
        self, unit_of_work: Callable[[], UnitOfWork], users: Users, inventory: Inventory
    ) -> None:
        self._uow = unit_of_work
        self._users = users
        self._inventory = inventory

    def place_order(self, command: PlaceOrder) -> Order:
        user = self._users.get_user(command.user_id)
        lines = _merge_lines(command.items)
        self._ensure_available(lines)
        order = Order(
            id=uuid.uuid4().hex, user_id=user.id, user_email=user.email, items=lines,
            status="pending", created_at=datetime.now(UTC),
        )
        with self._uow() as uow:
            uow.session.execute(insert(orders).values(order.model_dump(exclude={"items"})))
            uow.session.execute(
                insert(order_lines),
                [{"order_id": order.id, **line.model_dump()} for line in lines],
            )
            uow.publish(_created(order))
            uow.commit()
        return order

    def get_order(self, order_id: str) -> Order:
        with self._uow() as uow:
            found = load_orders(uow, [order_id])
        if not found:
            raise OrderNotFound(f"no order with id '{order_id}'")
        return found[0]

    def list_orders(self, user_id: str) -> list[Order]:
        with self._uow() as uow:
            ids = uow.session.execute(
                select(orders.c.id).where(orders.c.user_id == user_id)
            ).scalars().all()
            return load_orders(uow, list(ids))

    def confirm(self, uow: UnitOfWork, event: StockReserved) -> None:
        """Confirm a pending order whose every line inventory reserved."""
        settle(uow, event.order_id, "confirmed", None, lambda order: OrderConfirmed(
            order_id=order.id, user_id=order.user_id, user_email=order.user_email,
            items=tuple(OrderedItem(sku=i.sku, quantity=i.quantity) for i in order.items)))

    def reject(self, uow: UnitOfWork, event: StockReservationFailed) -> None:
        """Reject a pending order inventory could not cover; it held nothing to release."""
        reason = rejection_reason(event)
        settle(uow, event.order_id, "rejected", reason, lambda order: OrderRejected(
            order_id=order.id, user_id=order.user_id, user_email=order.user_email,
            reason=reason, shortages=event.shortages))

    def _ensure_available(self, lines: list[OrderItem]) -> None:
        for line in lines:
            availability = self._inventory.check_availability(line.sku, line.quantity)
            if not availability.in_stock:
                raise InsufficientInventory(
                    f"SKU '{line.sku}': {line.quantity} requested, "
                    f"{availability.available} available",
                    sku=line.sku, requested=line.quantity, available=availability.available,
                )


def _merge_lines(items: list[OrderLine]) -> list[OrderItem]:
    """One line per SKU, quantities added up, in first-seen order."""
    totals: Counter[str] = Counter()
    for item in items:
        totals[item.sku] += item.quantity
    # A total may pass one line's limit (two lines of 10,000): it is no line, but an item.
    return [OrderItem(sku=sku, quantity=quantity) for sku, quantity in totals.items()]


def _created(order: Order) -> OrderCreated:
    return OrderCreated(
        order_id=order.id, user_id=order.user_id, user_email=order.user_email,
        items=tuple(OrderedItem(sku=i.sku, quantity=i.quantity) for i in order.items),
    )
