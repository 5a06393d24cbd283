"""``carve events dlq``: list dead letters and send them to their consumer again."""

from __future__ import annotations

from dramatiq import Broker

from migration.events.tables import dead_letters, readable
from migration.runtime.broker import enqueue_many
from migration.runtime.dead_letters import DeadLetter, DeadLetterStore
from migration.runtime.errors import CarveError
from migration.runtime.project import Project
from migration.runtime.queue_worker import dead_letter_stores


def _stores(project: Project) -> dict[str, DeadLetterStore]:
    subscribers = readable(project, [s for s in project.specs.values() if s.subscriptions],
                           dead_letters)
    return dead_letter_stores(subscribers, project.sessions)


def list_dead_letters(project: Project, message_id: str | None = None) -> list[DeadLetter]:
    """Every dead letter of every subscribing module, oldest first."""
    letters = [letter for store in _stores(project).values() for letter in store.list(message_id)]
    return sorted(letters, key=lambda letter: (letter.failed_at, letter.message_id))


def replay(project: Project, broker: Broker, message_id: str | None = None) -> list[DeadLetter]:
    """Send dead letters (all, or one message's) to their consumer's queue again.

    A letter is forgotten only after its message was sent; a crash in between
    sends it twice, which the consumer's inbox absorbs. Only the letters read here
    are forgotten: one the replayed message caused again meanwhile is kept.
    """
    replayed: list[DeadLetter] = []
    for store in _stores(project).values():
        letters = store.list(message_id)
        if not letters:
            continue
        enqueue_many(broker, [letter.as_message() for letter in letters])
        store.remove(letters)
        replayed += letters
    if message_id is not None and not replayed:
        raise CarveError(f"no dead letter with message id '{message_id}'")
    return replayed
