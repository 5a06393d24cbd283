"""Event subscribers of the notifications module: the order saga's outcome, told to the user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.orders import OrderConfirmed, OrderRejected
from migration.runtime.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from monolith.modules.notifications.service import NotificationsService


def when_order_confirmed_send_confirmation(
    event: OrderConfirmed, uow: UnitOfWork, notifications: NotificationsService
) -> None:
    """Tell the user their order is confirmed."""
    notifications.confirm_order(uow, event)


def when_order_rejected_send_rejection(
    event: OrderRejected, uow: UnitOfWork, notifications: NotificationsService
) -> None:
    """Tell the user their order was rejected, and why."""
    notifications.reject_order(uow, event)
