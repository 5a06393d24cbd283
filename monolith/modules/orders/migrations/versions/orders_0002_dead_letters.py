"""orders: the dead letters of queued events its subscribers gave up on.

Revision ID: orders_0002
Revises: orders_0001
Create Date: 2026-11-26
"""

from alembic import op

from migration.runtime.messaging_tables import (
    create_dead_letters_table_v1,
    drop_dead_letters_table_v1,
)

revision = "orders_0002"
down_revision = "orders_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_dead_letters_table_v1(op, "orders")


def downgrade() -> None:
    drop_dead_letters_table_v1(op, "orders")
