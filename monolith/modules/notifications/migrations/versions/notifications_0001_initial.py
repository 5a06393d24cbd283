"""notifications: initial tables.

Revision ID: notifications_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from migration.runtime.messaging_tables import (
    create_messaging_tables_v1,
    drop_messaging_tables_v1,
)

revision = "notifications_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications_notifications",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "reference", name="uq_notifications_kind_reference"),
    )
    op.create_index(
        "ix_notifications_notifications_user_id", "notifications_notifications", ["user_id"]
    )
    create_messaging_tables_v1(op, "notifications")


def downgrade() -> None:
    drop_messaging_tables_v1(op, "notifications")
    op.drop_index(
        "ix_notifications_notifications_user_id", table_name="notifications_notifications"
    )
    op.drop_table("notifications_notifications")
