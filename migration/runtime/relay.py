"""The outbox relay: moves undelivered rows of queue-transport events to the broker.

One pass per module: lock a batch of rows (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so relays can run side by side), enqueue one message per subscriber
in one pipelined round trip, mark the batch dispatched, commit. A relay that
dies before the commit leaves the rows pending: they are sent again and the
consumers' inboxes absorb the duplicates. Nothing is marked before it was sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from dramatiq import Broker
from opentelemetry.trace import SpanKind

from contracts.events import Event
from migration.runtime.broker import enqueue_many
from migration.runtime.modules import ModuleSpec
from migration.runtime.outbox import OutboxMessage, OutboxStore
from migration.runtime.queue_messages import messages_for
from migration.runtime.tracing import continued, trace_headers, tracing_on

log = logging.getLogger("carve.relay")

MAX_ERROR_BACKOFF = 5.0


def routes_for(specs: Iterable[ModuleSpec]) -> dict[str, list[str]]:
    """Event type → the consumers (``<module>.<handler>``) that subscribe to it."""
    routes: dict[str, list[str]] = {}
    for spec in specs:
        for sub in spec.subscriptions:
            routes.setdefault(sub.event.type, []).append(f"{spec.name}.{sub.name}")
    return routes


def traced(row: OutboxMessage) -> OutboxMessage:
    """The row with a relay span's context as its headers, while tracing is on: the
    worker's span is then the relay's child, and the relay's the publisher's."""
    if not tracing_on():
        return row
    with continued(row.headers, f"relay {row.event_type}", SpanKind.PRODUCER,
                   **{"messaging.message.id": row.id}):
        return replace(row, headers={**row.headers, **trace_headers()})


@dataclass
class RelayStats:
    """What a relay has done since it started."""

    rows: int = 0
    messages: int = 0
    failures: int = 0


@dataclass
class Relay:
    """Moves queue-transport outbox rows of several modules to one broker."""

    outboxes: Mapping[str, OutboxStore]
    routes: Mapping[str, list[str]]
    broker: Broker
    transport: Callable[[str], str]
    batch_size: int = 500
    stats: RelayStats = field(default_factory=RelayStats)

    def queue_types(self) -> list[str]:
        """The event types whose transport is ``queue`` right now."""
        known = set(self.routes) | set(Event.known_types())
        return sorted(t for t in known if self.transport(t) == "queue")

    def relay_batch(self, module: str, *, due_only: bool = True) -> int:
        """Send one batch of a module's outbox; returns how many rows it settled."""
        types = self.queue_types()
        if not types:
            return 0
        outbox = self.outboxes[module]
        with outbox.transaction() as session:
            rows = outbox.claim(session, types, limit=self.batch_size, due_only=due_only)
            messages = [m for row in rows for m in messages_for(
                traced(row), self.routes.get(row.event_type, []))]
            enqueue_many(self.broker, messages)
            outbox.mark_dispatched([row.id for row in rows], session)
        self.stats.rows += len(rows)
        self.stats.messages += len(messages)
        return len(rows)

    def relay_pass(self, *, due_only: bool = True) -> tuple[int, bool]:
        """One batch from every module: rows settled, and whether any batch was full."""
        settled, full = 0, False
        for module in self.outboxes:
            count = self.relay_batch(module, due_only=due_only)
            settled += count
            full = full or count >= self.batch_size
        return settled, full

    def drain(self) -> int:
        """Relay everything pending now, backoff or not; returns how many rows."""
        total = 0
        while True:
            settled, _ = self.relay_pass(due_only=False)
            total += settled
            if settled == 0:
                return total

    def run(self, stop: threading.Event, interval: float = 0.05, busy: float = 0.005) -> None:
        """Relay until ``stop`` is set; a broker or database outage only delays delivery.

        While events flow it polls every ``busy`` seconds (latency), when idle every
        ``interval`` seconds (load on the databases).
        """
        backoff = 0.0
        while not stop.is_set():
            try:
                settled, full = self.relay_pass()
            except Exception as exc:  # the rows stay in the outbox; try again shortly
                self.stats.failures += 1
                backoff = min(max(backoff * 2, 0.2), MAX_ERROR_BACKOFF)
                log.warning("relay pass failed, events stay in the outbox (retry in %.1fs): %s",
                            backoff, _first_line(exc))
                stop.wait(backoff)
                continue
            backoff = 0.0
            if not full:
                stop.wait(busy if settled else interval)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
