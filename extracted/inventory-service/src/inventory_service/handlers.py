"""Event subscribers of the inventory module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.orders import OrderCreated
from migration.runtime.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from inventory_service.service import InventoryService


def when_order_created_reserve_stock(
    event: OrderCreated, uow: UnitOfWork, inventory: InventoryService
) -> None:
    """Reserve every line of a new order or none; publish stock.reserved or .reservation_failed."""
    inventory.reserve_for_order(uow, event)
