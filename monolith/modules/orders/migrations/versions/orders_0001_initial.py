"""orders: initial tables.

Revision ID: orders_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from migration.runtime.messaging_tables import (
    create_messaging_tables_v1,
    drop_messaging_tables_v1,
)

revision = "orders_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders_orders",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("user_email", sa.String(320), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_orders_orders_user_id", "orders_orders", ["user_id"])
    op.create_table(
        "orders_lines",
        sa.Column("order_id", sa.String(32), sa.ForeignKey("orders_orders.id"), primary_key=True),
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
    )
    create_messaging_tables_v1(op, "orders")


def downgrade() -> None:
    drop_messaging_tables_v1(op, "orders")
    op.drop_table("orders_lines")
    op.drop_index("ix_orders_orders_user_id", table_name="orders_orders")
    op.drop_table("orders_orders")
