"""Applying events to subscribers, once each, and in-process delivery after commit.

A subscriber runs in a unit of work of its own module; the inbox row that
records the message id commits with its effect, so a redelivery changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from contracts.events import Event
from migration.runtime.modules import Subscription
from migration.runtime.outbox import OutboxMessage, OutboxStore
from migration.runtime.unit_of_work import UnitOfWork

log = logging.getLogger("carve.events")


@dataclass(frozen=True)
class Consumer:
    """A subscription bound to its module: where and how to apply an event."""

    module: str
    subscription: Subscription
    unit_of_work: Callable[[], UnitOfWork]
    service: Any

    @property
    def name(self) -> str:
        """The consumer's stable name, ``<module>.<handler>``: its inbox key and queue."""
        return f"{self.module}.{self.subscription.name}"

    def apply(self, event: Event) -> bool:
        """Apply the event unless already applied; True when it changed something."""
        with self.unit_of_work() as uow:
            # The inbox row goes first: it is both the check and the record, and it
            # commits (or rolls back) with the effect.
            if not uow.record_applied(event.message_id, self.name):
                return False
            self.subscription.handler(event, uow, self.service)
            try:
                uow.commit()
            except IntegrityError:
                # Another delivery of the same message won the race: its effect stands.
                uow.rollback()
                return False
        return True

    def apply_many(
        self, events: Sequence[Event],
        around: Callable[[Event], AbstractContextManager[Any]] | None = None,
    ) -> int:
        """Apply several events in one transaction, each unless already applied.

        The inbox rows of all of them go first, in one statement; then each new event's
        subscriber runs (inside ``around(event)``, its trace span), in order, and one
        commit records every effect. Any exception rolls the whole batch back and
        reaches the caller, who applies the events one by one instead: nothing of a
        failed batch stays. Returns how many events changed something.
        """
        with self.unit_of_work() as uow:
            fresh = uow.record_applied_many([e.message_id for e in events], self.name)
            applied = 0
            for event in events:
                if event.message_id in fresh:
                    fresh.discard(event.message_id)  # a repeat within the batch is skipped
                    with (around or _no_span)(event):
                        self.subscription.handler(event, uow, self.service)
                    applied += 1
            uow.commit()
        return applied


def _no_span(_event: Event) -> AbstractContextManager[Any]:
    return nullcontext()


class InProcessDelivery:
    """Delivers outbox rows of in-process events to the subscribers in this process."""

    def __init__(
        self,
        outboxes: dict[str, OutboxStore],
        consumers: Iterable[Consumer],
        transport: Callable[[str], str],
    ) -> None:
        self._outboxes = outboxes
        self._consumers: dict[str, list[Consumer]] = defaultdict(list)
        for consumer in consumers:
            self.subscribe(consumer)
        self._transport = transport
        self._locks = {module: threading.Lock() for module in outboxes}
        self._local = threading.local()

    def subscribe(self, consumer: Consumer) -> None:
        """Deliver the consumer's event type to it from now on."""
        self._consumers[consumer.subscription.event.type].append(consumer)

    def inprocess_types(self) -> list[str]:
        """The event types this delivery is responsible for."""
        return [t for t in self._consumers if self._transport(t) == "inprocess"]

    def after_commit(self, module: str, message_ids: list[str]) -> None:
        """Deliver what a transaction just published; failures stay for the retry."""
        self.deliver(module, ids=message_ids)

    def deliver(
        self, module: str, ids: Sequence[str] | None = None, limit: int = 200,
        untried_before: datetime | None = None,
    ) -> int:
        """Deliver pending in-process events of one module's outbox; returns how many.

        ``untried_before`` (the retry loop's) leaves rows no delivery has tried yet, written
        at or after it, to the thread that published them.

        A subscriber that publishes (inventory answering ``order.created``) commits inside
        this delivery; what it published is delivered after the current message, on this
        thread, rather than from within it: one module's lock is held at a time, so two
        threads delivering each other's events never wait on each other.
        """
        later = getattr(self._local, "later", None)
        if later is not None:
            later.append((module, ids, limit, untried_before))
            return 0
        self._local.later = later = [(module, ids, limit, untried_before)]
        delivered = 0
        try:
            while later:
                delivered += self._deliver_now(*later.pop(0))
        finally:
            self._local.later = None
        return delivered

    def _deliver_now(self, module: str, ids: Sequence[str] | None, limit: int,
                     untried_before: datetime | None) -> int:
        outbox = self._outboxes.get(module)
        types = self.inprocess_types()
        if outbox is None or not types:
            return 0
        with self._locks[module]:
            messages = outbox.pending(event_types=types, ids=ids, limit=limit,
                                      untried_before=untried_before)
            return sum(self._deliver_one(outbox, message) for message in messages)

    def deliver_all(self, untried_before: datetime | None = None) -> int:
        """One pass over every module's outbox (``untried_before`` as in ``deliver``)."""
        return sum(self.deliver(module, untried_before=untried_before)
                   for module in self._outboxes)

    def _deliver_one(self, outbox: OutboxStore, message: OutboxMessage) -> bool:
        try:
            event = message.event()
            for consumer in self._consumers.get(message.event_type, ()):
                consumer.apply(event)
        except Exception as exc:  # a subscriber's failure must not reach the publisher
            log.warning("delivery of %s %s failed: %s", message.event_type, message.id, exc)
            outbox.record_failure(message, f"{type(exc).__name__}: {exc}")
            return False
        outbox.mark_dispatched([message.id])
        return True


class RetryLoop:
    """A daemon thread that retries undelivered in-process events every few seconds.

    It retries what a delivery tried and failed (once its backoff is over) and what its
    publisher never tried (the process died between commit and delivery). A row nobody has
    tried yet is left alone for ``grace`` seconds (the interval, at least a second): its
    publisher delivers it, and what that delivery publishes, right after its commit, so a
    request that placed an order returns with the order's saga done. Taken by this loop
    (here or in another process sharing the database), the request would return while
    the loop was still half-way through the chain.
    """

    def __init__(
        self, delivery: InProcessDelivery, interval: float = 2.0, grace: float | None = None,
    ) -> None:
        self._delivery = delivery
        self._interval = interval
        self._grace = timedelta(seconds=max(interval, 1.0) if grace is None else grace)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="carve-retry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def retry_once(self) -> int:
        """One pass: what failed and is due, and what was left untried past the grace."""
        return self._delivery.deliver_all(untried_before=datetime.now(UTC) - self._grace)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.retry_once()
            except Exception:  # keep retrying; the next pass may find the database back
                log.exception("event retry pass failed")
