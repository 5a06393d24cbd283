"""Event subscribers of the notifications module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.orders import OrderCreated
from migration.runtime.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from monolith.modules.notifications.service import NotificationsService


def when_order_created_send_confirmation(
    event: OrderCreated, uow: UnitOfWork, notifications: NotificationsService
) -> None:
    """Tell the user their order was placed."""
    notifications.confirm_order(uow, event)
