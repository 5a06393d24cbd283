"""The notifications module's tables."""

from sqlalchemy import Column, String, Table, UniqueConstraint

from migration.runtime.modules import module_metadata
from migration.runtime.types import UtcDateTime

metadata = module_metadata("notifications")

notifications = Table(
    "notifications_notifications",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), nullable=False, index=True),
    Column("recipient", String(320), nullable=False),
    Column("kind", String(50), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=False),
    UniqueConstraint("kind", "reference", name="uq_notifications_kind_reference"),
)
