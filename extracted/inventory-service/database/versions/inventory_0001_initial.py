"""inventory: initial tables.

Revision ID: inventory_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from migration.runtime.messaging_tables import (
    create_messaging_tables_v1,
    drop_messaging_tables_v1,
)

revision = "inventory_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inventory_stock",
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("on_hand", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "inventory_reservations",
        sa.Column("order_id", sa.String(32), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("requested", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False),
        sa.Column("shortfall", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "sku", name="pk_inventory_reservations"),
    )
    create_messaging_tables_v1(op, "inventory")


def downgrade() -> None:
    drop_messaging_tables_v1(op, "inventory")
    op.drop_table("inventory_reservations")
    op.drop_table("inventory_stock")
