"""notifications: tells users what happened to their orders."""

from pathlib import Path

from contracts.notifications import Notifications
from contracts.orders import OrderConfirmed, OrderRejected
from migration.runtime.modules import ModuleContext, ModuleSpec, Subscription
from monolith.modules.notifications.handlers import (
    when_order_confirmed_send_confirmation,
    when_order_rejected_send_rejection,
)
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
    subscriptions=(
        Subscription(OrderConfirmed, when_order_confirmed_send_confirmation),
        Subscription(OrderRejected, when_order_rejected_send_rejection),
    ),
    description="Tells users their order was confirmed or rejected; lists what each was sent.",
)
