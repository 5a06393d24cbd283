"""Reading and settling a module's outbox: what is pending, delivered or failing."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import Event
from migration.runtime.held_connections import lent_connection

MAX_BACKOFF_SECONDS = 60


def outbox_channel(module: str) -> str:
    """The PostgreSQL NOTIFY channel a commit that wrote to the module's outbox signals.

    A relay LISTENs on it to wake at once instead of waiting for its next poll; the
    notification carries nothing, the outbox rows are the truth.
    """
    return f"carve_outbox_{module}"


@dataclass(frozen=True)
class OutboxMessage:
    """One outbox row: an event waiting for (or done with) delivery."""

    id: str
    event_type: str
    payload: dict[str, Any]
    headers: dict[str, str]
    attempts: int

    def event(self) -> Event:
        """Rebuild the event from its stored payload."""
        cls = Event.class_for(self.event_type)
        if cls is None:
            raise LookupError(f"no contract declares the event type '{self.event_type}'")
        return cls.model_validate(self.payload)


def backoff(attempts: int) -> timedelta:
    """Exponential backoff after a failed delivery, capped at a minute."""
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


class OutboxStore:
    """Queries on one module's ``<module>_outbox`` table."""

    def __init__(self, sessions: sessionmaker[Session], table: Table) -> None:
        self._sessions = sessions
        self.table = table

    def pending(
        self,
        *,
        event_types: Iterable[str] | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 100,
        due_only: bool = True,
        untried_before: datetime | None = None,
    ) -> list[OutboxMessage]:
        """Undelivered rows, oldest first, optionally only some types or ids.

        ``untried_before`` leaves out rows no delivery has tried yet that were written at or
        after it: their publisher delivers them right after its commit (see ``RetryLoop``).
        """
        t = self.table
        query = select(t).where(t.c.dispatched_at.is_(None)).order_by(t.c.occurred_at, t.c.id)
        if due_only:
            query = query.where(t.c.available_at <= datetime.now(UTC))
        if untried_before is not None:
            query = query.where(or_(t.c.attempts > 0, t.c.available_at < untried_before))
        if event_types is not None:
            query = query.where(t.c.event_type.in_(list(event_types)))
        if ids is not None:
            query = query.where(t.c.id.in_(list(ids)))
        with self._sessions() as session:
            return [_message(row) for row in session.execute(query.limit(limit)).mappings()]

    def engine(self) -> Engine | None:
        """The engine of the module's database as it resolves *now* (it follows a cut-over)."""
        bind = self._sessions.kw.get("bind")
        return bind if isinstance(bind, Engine) else None

    def transaction(self) -> Any:
        """A new transaction on the module's database (``with store.transaction() as s:``).

        In a thread that holds its connections (a relay's loop), on the one it holds.
        """
        lent = lent_connection(self.engine())
        return self._sessions.begin() if lent is None else self._lent_transaction(lent)

    @contextmanager
    def _lent_transaction(self, connection: Connection) -> Iterator[Session]:
        with self._sessions(bind=connection) as session, session.begin():
            yield session

    def claim(
        self, session: Session, event_types: Iterable[str], *, limit: int = 500,
        due_only: bool = True,
    ) -> list[OutboxMessage]:
        """Mark undelivered rows of these types dispatched in the caller's transaction, and
        return them, oldest first: send them before that transaction commits.

        One statement (``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``):
        on PostgreSQL rows another transaction holds are skipped, so several relays share
        the work, and the transaction's commit does not wait for the WAL flush; SQLite has
        one writer. A transaction that rolls back (the send failed, the relay died), or
        whose commit a database crash loses, leaves the rows pending.
        """
        statement = _claim_statement(self.table, due_only, session.get_bind().dialect.name)
        values = {"types": list(event_types), "limit": limit, "now": datetime.now(UTC)}
        rows = sorted(session.execute(statement, values).mappings(),
                      key=lambda row: (row["occurred_at"], row["id"]))
        return [_message(row) for row in rows]

    def mark_dispatched(self, ids: Sequence[str], session: Session | None = None) -> None:
        """Mark rows delivered (in the caller's session when given)."""
        if not ids:
            return
        statement = (
            update(self.table)
            .where(and_(self.table.c.id.in_(list(ids)), self.table.c.dispatched_at.is_(None)))
            .values(dispatched_at=datetime.now(UTC), last_error=None)
        )
        if session is not None:
            session.execute(statement)
            return
        with self._sessions.begin() as own:
            own.execute(statement)

    def record_failure(self, message: OutboxMessage, error: str) -> None:
        """Count a failed attempt and put the row back after a backoff."""
        attempts = message.attempts + 1
        with self._sessions.begin() as session:
            session.execute(
                update(self.table)
                .where(self.table.c.id == message.id)
                .values(
                    attempts=attempts,
                    last_error=error[:2000],
                    available_at=datetime.now(UTC) + backoff(attempts),
                )
            )

    def backlog(self) -> dict[str, int]:
        """How many undelivered rows there are, per event type."""
        t = self.table
        query = (
            select(t.c.event_type, func.count())
            .where(t.c.dispatched_at.is_(None))
            .group_by(t.c.event_type)
        )
        with self._sessions() as session:
            return {row[0]: row[1] for row in session.execute(query).all()}


@functools.cache
def _claim_statement(t: Table, due_only: bool, dialect: str) -> Any:
    # Built once per table: a relay pass should not rebuild SQL (a third of its CPU time).
    now = bindparam("now")
    chosen = (
        select(t.c.id)
        .where(t.c.dispatched_at.is_(None), t.c.event_type.in_(bindparam("types", expanding=True)))
        .order_by(t.c.occurred_at, t.c.id).limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    if due_only:
        chosen = chosen.where(t.c.available_at <= now)
    returned: list[Any] = list(t.c)
    if dialect == "postgresql":
        # The mark need not wait for the WAL flush: the rows were sent before the commit,
        # and a mark that a database crash loses sends them again, to inboxes that absorb
        # them. Set in the same round trip, for this transaction only (ADR 0014).
        returned.append(func.set_config("synchronous_commit", "off", True))
    return (
        update(t).where(t.c.id.in_(chosen.scalar_subquery()))
        .values(dispatched_at=now, last_error=None).returning(*returned)
    )


def _message(row: Any) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        event_type=row["event_type"],
        payload=json.loads(row["payload"]),
        headers=json.loads(row["headers"] or "{}"),
        attempts=row["attempts"],
    )
