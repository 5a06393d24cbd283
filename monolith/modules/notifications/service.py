"""Use cases of the notifications module."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import insert, select

from contracts.notifications import Notification, Notifications
from contracts.orders import OrderConfirmed, OrderRejected
from migration.runtime.unit_of_work import UnitOfWork
from monolith.modules.notifications.senders import Sender
from monolith.modules.notifications.tables import notifications


class NotificationsService(Notifications):
    """Records and sends notifications; lists what each user was sent."""

    def __init__(self, unit_of_work: Callable[[], UnitOfWork], sender: Sender) -> None:
        self._uow = unit_of_work
        self._sender = sender

    def list_notifications(self, user_id: str) -> list[Notification]:
        with self._uow() as uow:
            found = uow.session.execute(
                select(notifications).where(notifications.c.user_id == user_id)
                .order_by(notifications.c.sent_at.desc(), notifications.c.id)
            ).mappings().all()
        return [Notification.model_validate(dict(row)) for row in found]

    def confirm_order(self, uow: UnitOfWork, event: OrderConfirmed) -> None:
        """Record an order confirmation, then send it (a failed send undoes the record)."""
        lines = "\n".join(f"- {item.quantity} x {item.sku}" for item in event.items)
        self._notify(uow, event, "order_confirmation", f"Order {event.order_id} confirmed",
                     f"Thank you for your order:\n{lines}\n")

    def reject_order(self, uow: UnitOfWork, event: OrderRejected) -> None:
        """Record a rejection notice with its reason, then send it."""
        self._notify(uow, event, "order_rejection", f"Order {event.order_id} rejected",
                     f"We could not accept your order: {event.reason}.\n"
                     "Nothing was reserved for it.\n")

    def _notify(self, uow: UnitOfWork, event: OrderConfirmed | OrderRejected, kind: str,
                subject: str, body: str) -> None:
        # One notification per (kind, order): the unique key makes a second one fail its
        # insert before anything is sent.
        uow.session.execute(
            insert(notifications).values(
                id=uuid.uuid4().hex, user_id=event.user_id, recipient=event.user_email,
                kind=kind, subject=subject, reference=event.order_id,
                sent_at=datetime.now(UTC),
            )
        )
        self._sender.send(event.user_email, subject, body)
