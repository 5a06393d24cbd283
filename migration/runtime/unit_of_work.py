"""The unit of work: one transaction on a module's database, with its outbox.

State changes and the events they cause commit together; subscribers record
the message ids they applied in the same transaction as their effect.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import Event
from migration.runtime.held_connections import lent_connection
from migration.runtime.outbox import outbox_channel
from migration.runtime.routing import ModuleMoving

CommitHook = Callable[[str, list[str]], None]
#: What a module's capture trigger says when it refuses a write (see migration.datasplit).
MOVED_MARK = "carve:moved:"
_UPSERT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class UnitOfWork:
    """``with uow:`` opens a session; ``commit()`` commits it and announces new events."""

    def __init__(
        self,
        module: str,
        sessions: sessionmaker[Session],
        outbox: Table,
        inbox: Table,
        on_commit: CommitHook | None = None,
        headers: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.module = module
        self._sessions = sessions
        self._outbox = outbox
        self._inbox = inbox
        self._on_commit = on_commit
        self._headers = headers
        self._published: list[str] = []
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        # A worker thread lends the connection it holds (no pool checkout, no ping).
        lent = lent_connection(self._sessions.kw.get("bind"))
        self.session = self._sessions() if lent is None else self._sessions(bind=lent)
        self.session.info["carve_module"] = self.module
        self._published = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.session.rollback()
        self.session.close()
        if isinstance(exc, DBAPIError) and MOVED_MARK in str(exc.orig):
            # The old database's capture trigger refused the write: the module moved
            # under this unit of work. Nothing was written; the caller may retry.
            raise ModuleMoving(f"module '{self.module}' moved to another database while "
                               "this request ran; retry it") from exc

    def publish(self, event: Event) -> None:
        """Write the event to this module's outbox, in this transaction."""
        now = datetime.now(UTC)
        headers = self._headers() if self._headers else {}
        bind = self._sessions.kw.get("bind") or self.session.get_bind()
        self.session.execute(
            _publish_statement(self._outbox, self.module, bind.dialect.name).values(
                id=event.message_id,
                event_type=event.type,
                payload=json.dumps(event.payload()),
                headers=json.dumps(headers),
                occurred_at=event.occurred_at,
                available_at=now,
                attempts=0,
            )
        )
        self._published.append(event.message_id)

    def already_applied(self, message_id: str, handler: str) -> bool:
        """Whether this subscriber already applied this message."""
        query = select(self._inbox.c.message_id).where(
            self._inbox.c.message_id == message_id, self._inbox.c.handler == handler
        )
        return self.session.execute(query).first() is not None

    def record_applied(self, message_id: str, handler: str) -> bool:
        """Write the inbox row first; False when this subscriber already applied the message.

        One round trip on PostgreSQL and SQLite (``ON CONFLICT DO NOTHING``); a
        concurrent delivery of the same message waits on the row, then skips.
        """
        values = {"message_id": message_id, "handler": handler, "applied_at": datetime.now(UTC)}
        bind = self._sessions.kw.get("bind") or self.session.get_bind()
        statement = _claim_statement(self._inbox, bind.dialect.name)
        if statement is None:
            if self.already_applied(message_id, handler):
                return False
            self.session.execute(insert(self._inbox), values)
            return True
        return self.session.execute(statement, values).first() is not None

    def record_applied_many(self, message_ids: list[str], handler: str) -> set[str]:
        """Write the inbox rows of several messages; the ids this subscriber had not applied.

        One statement on PostgreSQL and SQLite (one multi-row ``INSERT … ON CONFLICT DO
        NOTHING RETURNING``), in id order so that two batches sharing messages lock their
        rows in the same order; a repeated id is written once.
        """
        ids = sorted(set(message_ids))
        if not ids:
            return set()
        bind = self._sessions.kw.get("bind") or self.session.get_bind()
        statement = _claim_statement(self._inbox, bind.dialect.name)
        if statement is None:
            return {m for m in ids if self.record_applied(m, handler)}
        now = datetime.now(UTC)
        rows = [{"message_id": m, "handler": handler, "applied_at": now} for m in ids]
        return set(self.session.execute(statement, rows).scalars())

    def commit(self) -> None:
        """Commit, then tell the delivery which events this transaction published."""
        self.session.commit()
        published, self._published = self._published, []
        if published and self._on_commit:
            self._on_commit(self.module, published)

    def rollback(self) -> None:
        """Undo everything since the last commit, events included."""
        self.session.rollback()
        self._published = []


@functools.cache
def _claim_statement(inbox: Table, dialect: str) -> Any:
    # Built once per table: a workers' hot path should not rebuild SQL per message.
    if dialect not in _UPSERT_INSERTS:
        return None
    return (_UPSERT_INSERTS[dialect](inbox).on_conflict_do_nothing()
            .returning(inbox.c.message_id))


@functools.cache
def _publish_statement(outbox: Table, module: str, dialect: str) -> Any:
    # On PostgreSQL the INSERT also signals the module's outbox channel, in the same round
    # trip: the notification is sent at commit (once per transaction), never on rollback.
    statement = insert(outbox)
    if dialect == "postgresql":
        statement = statement.returning(func.pg_notify(outbox_channel(module), ""))
    return statement
