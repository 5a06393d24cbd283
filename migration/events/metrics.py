"""Prometheus metrics of event delivery, served by relays and workers (``--metrics-port``).

- ``carve_outbox_backlog{module}``: outbox rows not yet relayed (the relay's outboxes);
- ``carve_outbox_oldest_pending_seconds{module}``: the age of the oldest of them, i.e.
  how far the relay lags behind;
- ``carve_dead_letters{module}``: messages a worker's subscribers gave up on.

They are read from the databases at scrape time, so they are right whichever process
changed them; a database that cannot be read leaves its module out of that scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from migration.runtime.dead_letters import DeadLetterStore
from migration.runtime.outbox import OutboxStore

log = logging.getLogger(__name__)


class EventMetrics(Collector):
    """Gauges of outbox backlogs and dead letters, computed when Prometheus scrapes."""

    def __init__(self, outboxes: Mapping[str, OutboxStore] | None = None,
                 dead_letters: Mapping[str, DeadLetterStore] | None = None) -> None:
        self.outboxes = dict(outboxes or {})
        self.dead_letters = dict(dead_letters or {})

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = GaugeMetricFamily("carve_outbox_backlog",
                                    "Outbox rows not yet relayed.", labels=["module"])
        oldest = GaugeMetricFamily("carve_outbox_oldest_pending_seconds",
                                   "Age of the oldest outbox row not yet relayed.",
                                   labels=["module"])
        dead = GaugeMetricFamily("carve_dead_letters", "Messages given up on.",
                                 labels=["module"])
        for module, store in self.outboxes.items():
            self._outbox(module, store, backlog, oldest)
        for module, letters in self.dead_letters.items():
            try:
                dead.add_metric([module], sum(letters.counts().values()))
            except SQLAlchemyError as exc:
                log.warning("dead letters of %s unreadable: %s", module, exc)
        yield from (backlog, oldest, dead) if self.outboxes else (dead,)

    @staticmethod
    def _outbox(module: str, store: OutboxStore, backlog: GaugeMetricFamily,
                oldest: GaugeMetricFamily) -> None:
        t = store.table
        query = select(func.count(), func.min(t.c.occurred_at)).where(t.c.dispatched_at.is_(None))
        try:
            with store.transaction() as session:
                pending, first = session.execute(query).one()
        except SQLAlchemyError as exc:
            log.warning("outbox of %s unreadable: %s", module, exc)
            return
        backlog.add_metric([module], pending)
        age = (datetime.now(UTC) - _aware(first)).total_seconds() if first else 0.0
        oldest.add_metric([module], max(age, 0.0))


def _aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def serve_event_metrics(port: int, metrics: EventMetrics, host: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` on ``port`` from a daemon thread, for the process's lifetime."""
    registry = CollectorRegistry()
    registry.register(metrics)
    start_http_server(port, addr=host, registry=registry)
