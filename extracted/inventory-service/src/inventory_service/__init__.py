"""inventory: stock per SKU."""

from pathlib import Path

from contracts.inventory import Inventory, StockReservationFailed, StockReserved
from contracts.orders import OrderCreated
from inventory_service.handlers import when_order_created_reserve_stock
from inventory_service.service import InventoryService
from inventory_service.tables import metadata
from migration.runtime.modules import ModuleContext, ModuleSpec, Subscription


def _build(context: ModuleContext) -> InventoryService:
    return InventoryService(context.unit_of_work)


module = ModuleSpec(
    name="inventory",
    contract=Inventory,
    factory=_build,
    metadata=metadata,
    migrations=Path(__file__).parent / "migrations" / "versions",
    subscriptions=(Subscription(OrderCreated, when_order_created_reserve_stock),),
    publishes=(StockReserved, StockReservationFailed),
    description="Keeps stock levels, answers availability, reserves all of an order or none.",
)
