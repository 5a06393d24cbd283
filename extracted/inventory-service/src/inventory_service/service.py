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
    SkuNotFound,
    StockItem,
    StockLevel,
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
        """Reserve each line of a placed order; what cannot be reserved is a shortfall."""
        now = datetime.now(UTC)
        for line in event.items:
            row = _locked_row(uow, line.sku)
            available = max(row.on_hand - row.reserved, 0) if row else 0
            granted = min(available, line.quantity)
            if granted:
                uow.session.execute(
                    update(stock).where(stock.c.sku == line.sku)
                    .values(reserved=stock.c.reserved + granted, updated_at=now)
                )
            uow.session.execute(
                insert(reservations).values(
                    order_id=event.order_id, sku=line.sku, requested=line.quantity,
                    reserved=granted, shortfall=line.quantity - granted, created_at=now,
                )
            )


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


def _locked_row(uow: UnitOfWork, sku: str) -> Any:
    query = select(stock).where(stock.c.sku == sku).with_for_update()
    return uow.session.execute(query).first()
