"""orders: the saga's outcome: a reason on rejected orders; orders placed before are confirmed.

Orders placed before the saga were accepted as ``placed`` and never rejected; they
become ``confirmed`` (what the user was told), and confirmed ones ``placed`` on downgrade.

Revision ID: orders_0003
Revises: orders_0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "orders_0003"
down_revision = "orders_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders_orders", sa.Column("reason", sa.Text(), nullable=True))
    op.execute("UPDATE orders_orders SET status = 'confirmed' WHERE status = 'placed'")


def downgrade() -> None:
    op.execute("UPDATE orders_orders SET status = 'placed' WHERE status = 'confirmed'")
    with op.batch_alter_table("orders_orders") as batch:
        batch.drop_column("reason")
