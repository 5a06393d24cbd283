"""orders: places orders (the seed's createOrder flow) and settles them by inventory's answer."""

from pathlib import Path

from contracts.inventory import Inventory, StockReservationFailed, StockReserved
from contracts.orders import OrderConfirmed, OrderCreated, OrderRejected, Orders
from contracts.users import Users
from migration.runtime.modules import ModuleContext, ModuleSpec, Subscription
from monolith.modules.orders.handlers import (
    when_stock_reservation_failed_reject_order,
    when_stock_reserved_confirm_order,
)
from monolith.modules.orders.service import OrdersService
from monolith.modules.orders.tables import metadata


def _build(context: ModuleContext) -> OrdersService:
    return OrdersService(
        context.unit_of_work, users=context.require(Users), inventory=context.require(Inventory)
    )


module = ModuleSpec(
    name="orders",
    contract=Orders,
    factory=_build,
    metadata=metadata,
    migrations=Path(__file__).parent / "migrations" / "versions",
    subscriptions=(
        Subscription(StockReserved, when_stock_reserved_confirm_order),
        Subscription(StockReservationFailed, when_stock_reservation_failed_reject_order),
    ),
    publishes=(OrderCreated, OrderConfirmed, OrderRejected),
    uses=(Users, Inventory),
    description="Places orders, pending until inventory's answer confirms or rejects them.",
)
