"""The users module's tables."""

from sqlalchemy import Column, String, Table

from migration.runtime.modules import module_metadata
from migration.runtime.types import UtcDateTime

metadata = module_metadata("users")

users = Table(
    "users_users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)
