"""The outbox and inbox tables every module owns, named after the module.

``<module>_outbox`` holds events written in the same transaction as the state
change; ``<module>_inbox`` holds the message ids each subscriber has applied.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from migration.runtime.types import UtcDateTime


def outbox_table(metadata: MetaData, module: str) -> Table:
    """Declare ``<module>_outbox`` in the module's metadata."""
    name = f"{module}_outbox"
    return Table(
        name,
        metadata,
        Column("id", String(32), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("headers", Text, nullable=False, default="{}"),
        Column("occurred_at", UtcDateTime(), nullable=False),
        Column("available_at", UtcDateTime(), nullable=False),
        Column("dispatched_at", UtcDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
        Index(f"ix_{name}_pending", "dispatched_at", "available_at"),
    )


def inbox_table(metadata: MetaData, module: str) -> Table:
    """Declare ``<module>_inbox`` in the module's metadata."""
    return Table(
        f"{module}_inbox",
        metadata,
        Column("message_id", String(32), nullable=False),
        Column("handler", String(200), nullable=False),
        Column("applied_at", UtcDateTime(), nullable=False),
        PrimaryKeyConstraint("message_id", "handler", name=f"pk_{module}_inbox"),
    )


def create_messaging_tables_v1(op, module: str) -> None:  # type: ignore[no-untyped-def]
    """Alembic operations creating version 1 of the outbox and inbox.

    Written out column by column, not derived from the table functions above,
    so that a later change to those cannot rewrite history that already ran.
    """
    outbox = f"{module}_outbox"
    op.create_table(
        outbox,
        Column("id", String(32), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("headers", Text, nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("available_at", DateTime(timezone=True), nullable=False),
        Column("dispatched_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False),
        Column("last_error", Text, nullable=True),
    )
    op.create_index(f"ix_{outbox}_pending", outbox, ["dispatched_at", "available_at"])
    op.create_table(
        f"{module}_inbox",
        Column("message_id", String(32), nullable=False),
        Column("handler", String(200), nullable=False),
        Column("applied_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("message_id", "handler", name=f"pk_{module}_inbox"),
    )


def drop_messaging_tables_v1(op, module: str) -> None:  # type: ignore[no-untyped-def]
    """Alembic operations undoing :func:`create_messaging_tables_v1`."""
    op.drop_table(f"{module}_inbox")
    op.drop_index(f"ix_{module}_outbox_pending", table_name=f"{module}_outbox")
    op.drop_table(f"{module}_outbox")


def dead_letters_table(metadata: MetaData, module: str) -> Table:
    """Declare ``<module>_dead_letters``: queued events this module's subscribers gave up on."""
    return Table(
        f"{module}_dead_letters",
        metadata,
        Column("message_id", String(64), nullable=False),
        Column("consumer", String(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("headers", Text, nullable=False),
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("failed_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("message_id", "consumer", name=f"pk_{module}_dead_letters"),
    )


def create_dead_letters_table_v1(op, module: str) -> None:  # type: ignore[no-untyped-def]
    """Alembic operations creating version 1 of ``<module>_dead_letters``."""
    op.create_table(
        f"{module}_dead_letters",
        Column("message_id", String(64), nullable=False),
        Column("consumer", String(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("headers", Text, nullable=False),
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("failed_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("message_id", "consumer", name=f"pk_{module}_dead_letters"),
    )


def drop_dead_letters_table_v1(op, module: str) -> None:  # type: ignore[no-untyped-def]
    """Alembic operations undoing :func:`create_dead_letters_table_v1`."""
    op.drop_table(f"{module}_dead_letters")
