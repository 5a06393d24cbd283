"""orders: places orders, the seed's createOrder flow."""

from pathlib import Path

from contracts.inventory import Inventory
from contracts.orders import OrderCreated, Orders
from contracts.users import Users
from migration.runtime.modules import ModuleContext, ModuleSpec
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
    publishes=(OrderCreated,),
    uses=(Users, Inventory),
    description="Places orders: checks the user and stock, keeps the email, publishes.",
)
