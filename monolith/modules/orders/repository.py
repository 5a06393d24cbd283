"""Reading orders back from the orders module's tables."""

from __future__ import annotations

from sqlalchemy import select

from contracts.orders import Order, OrderItem
from migration.runtime.unit_of_work import UnitOfWork
from monolith.modules.orders.tables import order_lines, orders


def load_orders(uow: UnitOfWork, ids: list[str]) -> list[Order]:
    """The orders with these ids, newest first, each with its lines."""
    if not ids:
        return []
    heads = uow.session.execute(
        select(orders).where(orders.c.id.in_(ids))
        .order_by(orders.c.created_at.desc(), orders.c.id)
    ).mappings().all()
    lines = uow.session.execute(
        select(order_lines).where(order_lines.c.order_id.in_(ids))
    ).mappings().all()
    by_order: dict[str, list[OrderItem]] = {}
    for line in lines:
        by_order.setdefault(line["order_id"], []).append(
            OrderItem(sku=line["sku"], quantity=line["quantity"])
        )
    return [Order(**head, items=by_order.get(head["id"], [])) for head in heads]
