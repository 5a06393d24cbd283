"""Queue workers: dramatiq actors that run the same subscribers as in-process delivery.

Each consumer (``<module>.<handler>``) gets its own queue and actor. The actor
rebuilds the event and calls :meth:`Consumer.apply`, whose inbox makes a
redelivery harmless. A failure is retried with exponential backoff; after the
last retry, or at once for a malformed payload, the message becomes a dead
letter in the consumer's database, with its error.

A batch message (several rows of one relay pass) is applied in one transaction by
:meth:`Consumer.apply_many`. If anything in it fails, the transaction rolls back
and its events are applied one by one, each in its own; an event that fails alone
is sent again by itself after the backoff (or dead-lettered), the way a
single-event message is retried (docs/adr/0014-batched-delivery.md).

The worker takes any consumers and dead-letter stores, so the monolith and an
extracted service run the same code.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from dramatiq import Actor, Broker, Message, Worker
from dramatiq.common import compute_backoff
from dramatiq.middleware import CurrentMessage, Retries
from opentelemetry.trace import SpanKind

from contracts.events import Event
from migration.runtime.dead_letters import DeadLetterStore
from migration.runtime.delivery import Consumer
from migration.runtime.modules import ModuleSpec
from migration.runtime.queue_messages import (
    EVENT_TYPE,
    HEADERS,
    MalformedMessage,
    event_from,
    is_batch,
    split,
    unique,
)
from migration.runtime.tracing import continued

log = logging.getLogger("carve.worker")


def dead_letter_stores(
    specs: Iterable[ModuleSpec], sessions: Callable[[str], Any]
) -> dict[str, DeadLetterStore]:
    """Each module's dead-letter store, in the module's own database.

    ``sessions`` gives a module's session factory: ``Project.sessions``, which follows
    the module to a new database after ``carve db cutover``.
    """
    return {s.name: DeadLetterStore(sessions(s.name), s.dead_letters) for s in specs}


class QueueWorker:
    """Dramatiq worker threads consuming the queues of the given consumers."""

    def __init__(
        self, broker: Broker, consumers: Sequence[Consumer],
        dead_letters: Mapping[str, DeadLetterStore], *, max_retries: int,
        threads: int = 8, poll_ms: int = 100,
    ) -> None:
        self.broker = broker
        self.consumers = list(consumers)
        self._dead_letters = dead_letters
        self._max_retries = max_retries
        self._threads = threads
        self._poll_ms = poll_ms
        self._worker: Worker | None = None
        for consumer in self.consumers:
            self._declare(consumer)

    @property
    def dead_letters(self) -> Mapping[str, DeadLetterStore]:
        """Where each module's dead letters are kept (read by the event metrics)."""
        return self._dead_letters

    @property
    def queues(self) -> set[str]:
        """The queue names this worker consumes."""
        return {c.name for c in self.consumers}

    def start(self) -> None:
        """Start consuming in background threads."""
        self._worker = Worker(self.broker, queues=self.queues, worker_threads=self._threads,
                              worker_timeout=self._poll_ms)
        self._worker.start()

    def stop(self, timeout_ms: int = 10_000) -> None:
        """Finish the messages in hand, give prefetched ones back, stop."""
        if self._worker is not None:
            self._worker.stop(timeout=timeout_ms)
            self._worker = None

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

    def _declare(self, consumer: Consumer) -> None:
        if consumer.module not in self._dead_letters:
            raise ValueError(f"no dead-letter store for module '{consumer.module}'")
        store = self._dead_letters[consumer.module]

        def apply(payload: Any) -> None:
            message = CurrentMessage.get_current_message()
            assert message is not None  # CurrentMessage is part of every carve broker
            self._apply(consumer, store, message)

        apply.__name__ = consumer.subscription.name
        Actor(apply, broker=self.broker, actor_name=consumer.name, queue_name=consumer.name,
              priority=0, options={"max_retries": self._max_retries})

    def _apply(self, consumer: Consumer, store: DeadLetterStore, message: Message) -> None:
        if is_batch(message):
            self._apply_batch(consumer, store, message)
            return
        attempt = int(message.options.get("retries", 0)) + 1
        try:
            event = event_from(message)
        except MalformedMessage as exc:
            log.warning("%s: malformed message %s dead-lettered: %s",
                        consumer.name, message.message_id, exc)
            self._bury(store, consumer, message, f"malformed message: {exc}", attempt)
            return
        try:
            with self._span(consumer, message, event):
                consumer.apply(event)
        except Exception as exc:
            if attempt <= self._max_retries:
                raise  # dramatiq retries it after an exponential backoff
            log.error("%s: message %s dead-lettered after %d attempts: %s",
                      consumer.name, message.message_id, attempt, exc)
            self._bury(store, consumer, message, _describe(exc), attempt)

    def _apply_batch(self, consumer: Consumer, store: DeadLetterStore, batch: Message) -> None:
        attempt = int(batch.options.get("retries", 0)) + 1
        try:
            singles = unique(split(batch))
        except MalformedMessage as exc:
            log.warning("%s: malformed batch %s dead-lettered: %s",
                        consumer.name, batch.message_id, exc)
            self._bury(store, consumer, batch, f"malformed message: {exc}", attempt)
            return
        events: list[tuple[Message, Event]] = []
        for single in singles:
            try:
                events.append((single, event_from(single)))
            except MalformedMessage as exc:
                log.warning("%s: malformed message %s dead-lettered: %s",
                            consumer.name, single.message_id, exc)
                self._bury(store, consumer, single, f"malformed message: {exc}", attempt)
        if not events:
            return
        carried = {event.message_id: single for single, event in events}
        size = len(events)
        try:
            consumer.apply_many(
                [event for _, event in events],
                around=lambda event: self._span(consumer, carried[event.message_id], event,
                                                size),
            )
        except Exception as exc:  # nothing of the batch committed: apply them one by one
            log.info("%s: batch %s of %d events failed (%s); applying them one by one",
                     consumer.name, batch.message_id, size, _first_line(exc))
            for single, event in events:
                self._apply_alone(consumer, store, single, event)

    def _apply_alone(
        self, consumer: Consumer, store: DeadLetterStore, single: Message, event: Event
    ) -> None:
        attempt = int(single.options.get("retries", 0)) + 1
        try:
            with self._span(consumer, single, event):
                consumer.apply(event)
        except Exception as exc:
            if attempt <= self._max_retries:
                delay = self._retry_later(single, exc)
                log.warning("%s: message %s failed (attempt %d), sent again in %d ms: %s",
                            consumer.name, single.message_id, attempt, delay, _first_line(exc))
                return
            log.error("%s: message %s dead-lettered after %d attempts: %s",
                      consumer.name, single.message_id, attempt, exc)
            self._bury(store, consumer, single, _describe(exc), attempt)

    def _retry_later(self, single: Message, exc: BaseException) -> int:
        """Send one event of a batch again by itself, after the broker's retry backoff.

        If the send fails, the exception reaches dramatiq, which retries the whole batch
        message; the inbox absorbs what the batch applied already.
        """
        retries = int(single.options.get("retries", 0))
        policy = next((m for m in self.broker.middleware if isinstance(m, Retries)), None)
        min_backoff = policy.min_backoff if policy is not None else 15_000
        max_backoff = policy.max_backoff if policy is not None else 60_000
        _, delay = compute_backoff(retries, factor=min_backoff, max_backoff=max_backoff)
        self.broker.enqueue(single.copy(options={"retries": retries + 1,
                                                 "traceback": _describe(exc)}), delay=delay)
        return int(delay)

    @staticmethod
    def _span(consumer: Consumer, single: Message, event: Event,
              batch: int = 1) -> AbstractContextManager[object]:
        attributes = {"messaging.consumer": consumer.name,
                      "messaging.message.id": single.message_id}
        if batch > 1:
            attributes["messaging.batch.message_count"] = str(batch)
        return continued(single.options.get(HEADERS), f"consume {event.type}",
                         SpanKind.CONSUMER, **attributes)

    @staticmethod
    def _bury(
        store: DeadLetterStore, consumer: Consumer, message: Message, error: str, attempts: int
    ) -> None:
        # If this write fails the exception reaches dramatiq, which keeps the
        # message in its own dead-letter queue: it is never silently dropped.
        event_type = message.options.get(EVENT_TYPE)
        headers = message.options.get(HEADERS)
        store.record(
            message_id=message.message_id, consumer=consumer.name,
            event_type=event_type if isinstance(event_type, str) else "?",
            payload=message.args[0] if len(message.args) == 1 else list(message.args),
            headers=headers if isinstance(headers, dict) else {},
            error=error, attempts=attempts,
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _describe(exc: BaseException) -> str:
    frames = traceback.format_exception(exc, limit=-4)
    return f"{type(exc).__name__}: {exc}\n{''.join(frames[-6:])}"
