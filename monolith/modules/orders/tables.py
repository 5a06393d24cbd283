"""The orders module's tables. The order keeps its own copy of the user's email."""

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text

from migration.runtime.modules import module_metadata
from migration.runtime.types import UtcDateTime

metadata = module_metadata("orders")

orders = Table(
    "orders_orders",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), nullable=False, index=True),
    Column("user_email", String(320), nullable=False),
    Column("status", String(20), nullable=False),  # pending, confirmed or rejected
    Column("reason", Text(), nullable=True),        # why a rejected order was rejected
    Column("created_at", UtcDateTime(), nullable=False),
)

order_lines = Table(
    "orders_lines",
    metadata,
    Column("order_id", String(32), ForeignKey("orders_orders.id"), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("quantity", Integer, nullable=False),
)
