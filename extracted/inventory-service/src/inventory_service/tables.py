"""The inventory module's tables."""

from sqlalchemy import Column, Integer, PrimaryKeyConstraint, String, Table

from migration.runtime.modules import module_metadata
from migration.runtime.types import UtcDateTime

metadata = module_metadata("inventory")

stock = Table(
    "inventory_stock",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False, default=0),
    Column("updated_at", UtcDateTime(), nullable=False),
)

reservations = Table(
    "inventory_reservations",
    metadata,
    Column("order_id", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("requested", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("shortfall", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("order_id", "sku", name="pk_inventory_reservations"),
)
