"""users: initial tables.

Revision ID: users_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from migration.runtime.messaging_tables import (
    create_messaging_tables_v1,
    drop_messaging_tables_v1,
)

revision = "users_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users_users",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_messaging_tables_v1(op, "users")


def downgrade() -> None:
    drop_messaging_tables_v1(op, "users")
    op.drop_table("users_users")
