"""notifications: tells users what happened to their orders."""

from pathlib import Path

from contracts.notifications import Notifications
from contracts.orders import OrderCreated
from migration.runtime.modules import ModuleContext, ModuleSpec, Subscription
from monolith.modules.notifications.handlers import when_order_created_send_confirmation
from monolith.modules.notifications.senders import sender_from_settings
from monolith.modules.notifications.service import NotificationsService
from monolith.modules.notifications.tables import metadata


def _build(context: ModuleContext) -> NotificationsService:
    sender = context.adapter("sender", lambda: sender_from_settings(context.settings))
    return NotificationsService(context.unit_of_work, sender)


module = ModuleSpec(
    name="notifications",
    contract=Notifications,
    factory=_build,
    metadata=metadata,
    migrations=Path(__file__).parent / "migrations" / "versions",
    subscriptions=(Subscription(OrderCreated, when_order_created_send_confirmation),),
    description="Sends order confirmations and lists what each user was sent.",
)
