"""The outbox relay: moves undelivered rows of queue-transport events to the broker.

One pass per module: lock and mark a batch of rows in one statement (``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, so relays can run side by side), enqueue one
message per subscriber and up to ``batch_events`` rows (which its worker applies in
one transaction, docs/adr/0014-batched-delivery.md) in one pipelined round trip,
commit. A relay that dies
or fails to send before the commit leaves the rows pending: they are sent again
and the consumers' inboxes absorb the duplicates. No mark commits before its send.

On PostgreSQL the relay wakes when a commit signals the module's outbox channel
(LISTEN/NOTIFY, see :class:`OutboxWakeup`); it keeps polling, so a lost signal
only delays an event until the next poll (docs/adr/0013-relay-wakes-on-commit.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import psycopg
from dramatiq import Broker
from opentelemetry.trace import SpanKind
from psycopg import sql
from sqlalchemy import Engine

from contracts.events import Event
from migration.runtime.broker import enqueue_many
from migration.runtime.held_connections import hold_in_this_thread, release_this_thread
from migration.runtime.modules import ModuleSpec
from migration.runtime.outbox import OutboxMessage, OutboxStore, outbox_channel
from migration.runtime.queue_messages import MAX_BATCH, batch_messages
from migration.runtime.tracing import continued, trace_headers, tracing_on

log = logging.getLogger("carve.relay")

MAX_ERROR_BACKOFF = 5.0
#: How often a listener looks up from its socket (the stop flag, a cut-over).
_LISTEN_CHECK_S = 0.25


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


class OutboxWakeup:
    """Wakes a relay when a commit signals one of its modules' outbox channels.

    One daemon thread per module on PostgreSQL LISTENs, on a connection of its own to the
    database the module resolves to now, on the channel every transaction that writes to
    the outbox notifies at commit. A dropped connection is opened again after ``retry``
    seconds; a module that a cut-over moved is followed to its new database. Meanwhile
    the relay polls, so a lost notification delays an event and never loses it.
    """

    def __init__(self, outboxes: Mapping[str, OutboxStore], retry: float = 1.0) -> None:
        self.signal = threading.Event()
        self.listening: set[str] = set()
        self.listens = 0  # LISTEN connections opened so far
        self._count_lock = threading.Lock()
        self._outboxes = outboxes
        self._retry = retry
        self._threads: list[threading.Thread] = []

    def start(self, stop: threading.Event) -> None:
        """Listen until ``stop`` is set."""
        for module, outbox in self._outboxes.items():
            thread = threading.Thread(target=self._listen, args=(module, outbox, stop),
                                      name=f"carve-relay-listen-{module}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def all_listening(self) -> bool:
        """Whether every module's commits wake the relay right now."""
        return all(module in self.listening for module in self._outboxes)

    def join(self, timeout: float) -> None:
        """Wait for the listeners to close their connections (after ``stop``)."""
        for thread in self._threads:
            thread.join(timeout)

    def _listen(self, module: str, outbox: OutboxStore, stop: threading.Event) -> None:
        warned = False
        while not stop.is_set():
            engine = outbox.engine()
            if engine is not None and engine.dialect.name == "postgresql":
                try:
                    self._listen_on(module, outbox, engine, stop)
                    warned = False
                except (psycopg.Error, OSError) as exc:
                    if not warned:  # once per outage: the relay polls meanwhile
                        log.warning("%s: not woken on commit, polling (retry in %.1fs): %s",
                                    module, self._retry, _first_line(exc))
                        warned = True
                finally:
                    self.listening.discard(module)
            stop.wait(self._retry)

    def _listen_on(self, module: str, outbox: OutboxStore, engine: Engine,
                   stop: threading.Event) -> None:
        conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5,
                             application_name="carve-relay-listen") as connection:
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(outbox_channel(module))))
            with self._count_lock:
                self.listening.add(module)
                self.listens += 1
            self.signal.set()  # rows committed before the LISTEN: one pass finds them
            while not stop.is_set() and outbox.engine() is engine:
                for _ in connection.notifies(timeout=_LISTEN_CHECK_S):
                    self.signal.set()


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
    #: The most rows sent to one subscriber in one message (applied in one transaction).
    batch_events: int = MAX_BATCH
    #: Seconds before a dropped LISTEN connection is opened again (polling meanwhile).
    listen_retry: float = 1.0
    stats: RelayStats = field(default_factory=RelayStats)
    wakeup: OutboxWakeup | None = field(default=None, init=False, repr=False)

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
            messages = batch_messages([traced(row) for row in rows], self.routes,
                                      self.batch_events)
            enqueue_many(self.broker, messages)  # before the commit that settles the rows
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

    def run(self, stop: threading.Event, interval: float = 0.05, busy: float = 0.005,
            *, listen: bool = True) -> None:
        """Relay until ``stop`` is set; a broker or database outage only delays delivery.

        A commit that wrote to a listened outbox wakes it at once; ``interval`` is then
        only the fallback poll. A module without a listener (SQLite, a dropped
        connection) is polled every ``busy`` seconds while events flow, every
        ``interval`` seconds when idle (load on the databases).
        """
        self.wakeup = OutboxWakeup(self.outboxes, self.listen_retry) if listen else None
        signal = self.wakeup.signal if self.wakeup else threading.Event()
        threading.Thread(target=lambda: (stop.wait(), signal.set()), daemon=True).start()
        if self.wakeup:
            self.wakeup.start(stop)
        hold_in_this_thread()  # one connection per database between passes: no ping each
        try:
            self._loop(stop, signal, interval, busy)
        finally:
            release_this_thread()
            if self.wakeup:
                self.wakeup.join(timeout=2 * _LISTEN_CHECK_S + 1)

    def _loop(self, stop: threading.Event, signal: threading.Event, interval: float,
              busy: float) -> None:
        backoff = 0.0
        while not stop.is_set():
            signal.clear()  # a commit during the pass sets it again: no signal is missed
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
                woken = self.wakeup is not None and self.wakeup.all_listening()
                signal.wait(busy if settled and not woken else interval)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
