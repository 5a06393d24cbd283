"""inventory: the dead letters of queued events its subscribers gave up on.

Revision ID: inventory_0002
Revises: inventory_0001
Create Date: 2026-11-26
"""

from alembic import op

from migration.runtime.messaging_tables import (
    create_dead_letters_table_v1,
    drop_dead_letters_table_v1,
)

revision = "inventory_0002"
down_revision = "inventory_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_dead_letters_table_v1(op, "inventory")


def downgrade() -> None:
    drop_dead_letters_table_v1(op, "inventory")
