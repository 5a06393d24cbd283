"""inventory: stock per SKU."""

from pathlib import Path

from contracts.inventory import Inventory, StockReservationFailed, StockReserved
from contracts.orders import OrderCreated
from migration.runtime.modules import ModuleContext, ModuleSpec, Subscription
from monolith.modules.inventory.handlers import when_order_created_reserve_stock
from monolith.modules.inventory.service import InventoryService
from monolith.modules.inventory.tables import metadata


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
