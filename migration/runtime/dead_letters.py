"""Dead letters: queued events a subscriber gave up on, kept in the subscriber's database.

They live next to the inbox of the module that failed, not in the broker, so
they survive a broker restart, work the same on Redis and RabbitMQ, and carry
the error that put them there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from migration.runtime.queue_messages import batch_of, queue_message


@dataclass(frozen=True)
class DeadLetter:
    """One message one consumer could not apply, with the reason."""

    message_id: str
    consumer: str
    event_type: str
    payload: Any
    headers: dict[str, str]
    error: str
    attempts: int
    failed_at: datetime

    def as_message(self):  # type: ignore[no-untyped-def]
        """The message to send again (same id: the inbox still guards the effect).

        A whole batch (one that a worker of an older release could not read) is sent
        again as the batch it was.
        """
        if isinstance(self.payload, list):
            return batch_of(self.consumer, self.message_id, self.payload)
        payload = self.payload if isinstance(self.payload, dict) else {"raw": self.payload}
        return queue_message(self.consumer, self.message_id, self.event_type, payload,
                             self.headers)

    def as_dict(self) -> dict[str, Any]:
        """The dead letter as JSON-ready data."""
        return {"message_id": self.message_id, "consumer": self.consumer,
                "event_type": self.event_type, "error": self.error, "attempts": self.attempts,
                "failed_at": self.failed_at.isoformat(), "payload": self.payload}


class DeadLetterStore:
    """Reads and writes one module's ``<module>_dead_letters`` table."""

    def __init__(self, sessions: sessionmaker[Session], table: Table) -> None:
        self._sessions = sessions
        self.table = table

    def record(
        self, *, message_id: str, consumer: str, event_type: str, payload: Any,
        headers: dict[str, str], error: str, attempts: int,
    ) -> None:
        """Keep a dead letter; a second failure of the same message replaces the first."""
        t = self.table
        with self._sessions.begin() as session:
            session.execute(delete(t).where(t.c.message_id == message_id,
                                            t.c.consumer == consumer))
            session.execute(insert(t).values(
                message_id=message_id, consumer=consumer, event_type=event_type[:200],
                payload=json.dumps(payload, default=str), headers=json.dumps(headers),
                error=error[:8000], attempts=attempts, failed_at=datetime.now(UTC),
            ))

    def list(self, message_id: str | None = None) -> list[DeadLetter]:
        """Dead letters, oldest first; only one message's when ``message_id`` is given."""
        query = select(self.table).order_by(self.table.c.failed_at, self.table.c.message_id)
        if message_id is not None:
            query = query.where(self.table.c.message_id == message_id)
        with self._sessions() as session:
            return [_dead_letter(row) for row in session.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        """How many dead letters there are, per event type."""
        t = self.table
        query = select(t.c.event_type, func.count()).group_by(t.c.event_type)
        with self._sessions() as session:
            return {row[0]: row[1] for row in session.execute(query).all()}

    def remove(self, letters: Sequence[DeadLetter]) -> None:
        """Forget these dead letters, exactly as they were read (after they were sent again).

        A letter recorded again since it was read (the replayed message failed at
        once: :meth:`record` replaced the row) has another ``failed_at`` and stays.
        """
        t = self.table
        with self._sessions.begin() as session:
            for letter in letters:
                session.execute(delete(t).where(t.c.message_id == letter.message_id,
                                                t.c.consumer == letter.consumer,
                                                t.c.failed_at == letter.failed_at))


def _dead_letter(row: Any) -> DeadLetter:
    return DeadLetter(
        message_id=row["message_id"], consumer=row["consumer"], event_type=row["event_type"],
        payload=json.loads(row["payload"]), headers=json.loads(row["headers"]),
        error=row["error"], attempts=row["attempts"], failed_at=row["failed_at"],
    )
