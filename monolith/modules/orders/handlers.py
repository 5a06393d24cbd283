"""Event subscribers of the orders module: inventory's answers settle pending orders."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.inventory import StockReservationFailed, StockReserved
from migration.runtime.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from monolith.modules.orders.service import OrdersService


def when_stock_reserved_confirm_order(
    event: StockReserved, uow: UnitOfWork, orders: OrdersService
) -> None:
    """Confirm the order inventory reserved; publishes order.confirmed once."""
    orders.confirm(uow, event)


def when_stock_reservation_failed_reject_order(
    event: StockReservationFailed, uow: UnitOfWork, orders: OrdersService
) -> None:
    """Reject the order inventory could not cover; publishes order.rejected once."""
    orders.reject(uow, event)
