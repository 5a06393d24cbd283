"""Use cases of the inventory module."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from contracts.inventory import (
    Availability,
    Inventory,
    QuantityInvalid,
    ReservedLine,
    SkuNotFound,
    StockItem,
    StockLevel,
    StockReservationFailed,
    StockReserved,
    StockShortage,
)
from contracts.orders import OrderCreated
from inventory_service.tables import reservations, stock
from migration.runtime.unit_of_work import UnitOfWork


def _item(row: Any) -> StockItem:
    available = max(row.on_hand - row.reserved, 0)
    return StockItem(sku=row.sku, on_hand=row.on_hand, reserved=row.reserved, available=available)


class InventoryService(Inventory):
    """Stock per SKU: on hand, reserved by orders, and available to sell."""

    def __init__(self, unit_of_work: Callable[[], UnitOfWork]) -> None:
        self._uow = unit_of_work

    def set_stock(self, sku: str, level: StockLevel) -> StockItem:
        with self._uow() as uow:
            _upsert_on_hand(uow, sku, level.quantity)
            uow.commit()
        return self.get_stock(sku)

    def get_stock(self, sku: str) -> StockItem:
        with self._uow() as uow:
            row = uow.session.execute(select(stock).where(stock.c.sku == sku)).first()
        if row is None:
            raise SkuNotFound(f"SKU '{sku}' is not stocked")
        return _item(row)

    def check_availability(self, sku: str, quantity: int = 1) -> Availability:
        if quantity < 1:
            raise QuantityInvalid(f"quantity must be at least 1, got {quantity}")
        available = self.get_stock(sku).available
        return Availability(
            sku=sku, requested=quantity, available=available, in_stock=available >= quantity
        )

    def reserve_for_order(self, uow: UnitOfWork, event: OrderCreated) -> None:
        """Reserve every line of a placed order, or none, and publish which it was.

        The rows of the order's SKUs are locked in SKU order (so two orders never wait on
        each other in a cycle) before anything is decided; an order seen before, under
        any message id, changes nothing.
        """
        lines = sorted(event.items, key=lambda line: line.sku)
        on_shelf = _lock_available(uow, [line.sku for line in lines])
        if _already_decided(uow, event.order_id):
            return
        shortages = [StockShortage(sku=line.sku, requested=line.quantity,
                                   available=on_shelf.get(line.sku, 0))
                     for line in lines if on_shelf.get(line.sku, 0) < line.quantity]
        granted = not shortages
        _record(uow, event.order_id, lines, on_shelf, granted)
        if granted:
            uow.publish(StockReserved(order_id=event.order_id, items=tuple(
                ReservedLine(sku=line.sku, quantity=line.quantity) for line in lines)))
        else:
            uow.publish(StockReservationFailed(order_id=event.order_id,
                                               shortages=tuple(shortages)))


def _already_decided(uow: UnitOfWork, order_id: str) -> bool:
    query = select(reservations.c.order_id).where(reservations.c.order_id == order_id).limit(1)
    return uow.session.execute(query).first() is not None


def _lock_available(uow: UnitOfWork, skus: list[str]) -> dict[str, int]:
    """Lock the SKUs' rows (``FOR UPDATE``, in SKU order) and say what each has to sell."""
    query = select(stock).where(stock.c.sku.in_(skus)).order_by(stock.c.sku).with_for_update()
    return {row.sku: max(row.on_hand - row.reserved, 0)
            for row in uow.session.execute(query)}


def _record(uow: UnitOfWork, order_id: str, lines: list[Any], on_shelf: dict[str, int],
            granted: bool) -> None:
    """Hold the units of a granted order; note every line either way (its shortfall)."""
    now = datetime.now(UTC)
    for line in lines:
        if granted:
            uow.session.execute(
                update(stock).where(stock.c.sku == line.sku)
                .values(reserved=stock.c.reserved + line.quantity, updated_at=now))
        uow.session.execute(insert(reservations).values(
            order_id=order_id, sku=line.sku, requested=line.quantity,
            reserved=line.quantity if granted else 0,
            shortfall=0 if granted else max(line.quantity - on_shelf.get(line.sku, 0), 0),
            created_at=now))


def _upsert_on_hand(uow: UnitOfWork, sku: str, quantity: int) -> None:
    """Insert the SKU or set its quantity on hand, in one statement (two first writes of
    the same new SKU cannot both insert)."""
    dialect = uow.session.get_bind().dialect.name
    insert_for = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    now = datetime.now(UTC)
    statement = insert_for(stock).values(sku=sku, on_hand=quantity, reserved=0, updated_at=now)
    uow.session.execute(statement.on_conflict_do_update(
        index_elements=[stock.c.sku], set_={"on_hand": quantity, "updated_at": now}
    ))
