"""The orders side of the order saga: a pending order is settled once, by inventory's answer.

``pending`` → ``confirmed`` on ``stock.reserved``, ``pending`` → ``rejected`` on
``stock.reservation_failed``; the transition is one conditional UPDATE, so whichever
answer is applied first wins and a later, duplicate or contradicting one changes nothing
and announces nothing (the user is never told both). See docs/adr/0009-order-saga.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select, update

from contracts.events import Event
from contracts.inventory import StockReservationFailed
from contracts.orders import Order
from migration.runtime.unit_of_work import UnitOfWork
from monolith.modules.orders.repository import load_orders
from monolith.modules.orders.tables import orders

log = logging.getLogger("carve.orders")

#: Longest reason kept on a rejected order (and sent to its user).
MAX_REASON_LENGTH = 1000


class OrderNotYetPlaced(Exception):  # noqa: N818 (a condition, retried; not a user's error)
    """Inventory answered for an order this database does not hold (yet).

    Raising leaves the event to its delivery's retry (the outbox's backoff in process,
    the broker's retries and then the dead-letter queue on the queue), so the answer is
    applied once the order's row is there, whatever order the events arrived in.
    """


def settle(uow: UnitOfWork, order_id: str, status: str, reason: str | None,
           announce: Callable[[Order], Event]) -> bool:
    """Move a pending order to ``status`` and publish ``announce(order)``; False if settled."""
    moved = uow.session.execute(
        update(orders).where(orders.c.id == order_id, orders.c.status == "pending")
        .values(status=status, reason=reason)
    ).rowcount
    if moved:
        uow.publish(announce(load_orders(uow, [order_id])[0]))
        return True
    current = uow.session.execute(
        select(orders.c.status).where(orders.c.id == order_id)).scalar_one_or_none()
    if current is None:
        raise OrderNotYetPlaced(f"order '{order_id}' is not in this database (yet): "
                                f"'{status}' is retried later")
    if current != status:
        log.warning("order %s is already %s: the later '%s' answer is ignored",
                    order_id, current, status)
    return False


def rejection_reason(event: StockReservationFailed) -> str:
    """What the user is told: each SKU that was short, requested against available."""
    short = "; ".join(f"{s.sku}: {s.requested} requested, {s.available} available"
                      for s in event.shortages)
    reason = f"insufficient stock ({short})"
    if len(reason) > MAX_REASON_LENGTH:
        reason = reason[:MAX_REASON_LENGTH - 2] + "…)"
    return reason
