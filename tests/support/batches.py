"""Support for tests of batched queue delivery: a small module of its own, its worker.

The module ``batched`` has one subscriber that appends a row per application to
``batched_effects`` (no unique key), so an effect applied twice shows as two rows.
Events whose ``seq`` is in the ``failures`` map fail that many times first (-1: always).

Run as ``python -m tests.support.batches DATABASE_URL REDIS_URL NAMESPACE HANG_FILE``: a
worker whose subscriber, on the event with ``seq`` = 3, touches HANG_FILE and then waits
for the process to be killed (inside the batch's open transaction).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Column, Engine, Integer, String, Table, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import Event
from migration.runtime.broker import BrokerSettings, close_broker, create_broker
from migration.runtime.db import create_module_engine
from migration.runtime.dead_letters import DeadLetterStore
from migration.runtime.delivery import Consumer
from migration.runtime.modules import Subscription, module_metadata
from migration.runtime.outbox import OutboxMessage
from migration.runtime.queue_worker import QueueWorker
from migration.runtime.unit_of_work import UnitOfWork

CONSUMER = "batched.when_counted_record"
HANG_SEQ = 3
metadata = module_metadata("batched")
effects = Table("batched_effects", metadata,
                Column("n", Integer, primary_key=True, autoincrement=True),
                Column("message_id", String(64), nullable=False))


class Counted(Event):
    """The test's event: record it (once)."""

    type = "batched.counted"
    seq: int


@dataclass
class Failures:
    """How often each ``seq`` still fails (-1: always), and every attempt seen."""

    left: dict[int, int] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attempt(self, seq: int) -> None:
        with self.lock:
            self.attempts[seq] = self.attempts.get(seq, 0) + 1
            left = self.left.get(seq, 0)
            if left == 0:
                return
            self.left[seq] = left - 1 if left > 0 else left
        raise RuntimeError(f"subscriber failed on seq {seq}")


@dataclass
class BatchedModule:
    """The module on a test's database, with a broker of the test's namespace."""

    engine: Engine
    sessions: sessionmaker[Session]
    settings: BrokerSettings
    failures: Failures = field(default_factory=Failures)

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork("batched", self.sessions, metadata.tables["batched_outbox"],
                          metadata.tables["batched_inbox"])

    def consumer(self) -> Consumer:
        def when_counted_record(event: Counted, uow: UnitOfWork, _service: object) -> None:
            self.failures.attempt(event.seq)
            uow.session.execute(insert(effects).values(message_id=event.message_id))

        return Consumer("batched", Subscription(Counted, when_counted_record),
                        self.unit_of_work, None)

    def dead_letters(self) -> DeadLetterStore:
        return DeadLetterStore(self.sessions, metadata.tables["batched_dead_letters"])

    @contextmanager
    def worker(self, max_retries: int = 3, threads: int = 2) -> Iterator[QueueWorker]:
        broker = create_broker(self.settings)
        worker = QueueWorker(broker, [self.consumer()], {"batched": self.dead_letters()},
                             max_retries=max_retries, threads=threads)
        worker.start()
        try:
            yield worker
        finally:
            worker.stop()
            close_broker(broker)

    def applied(self) -> dict[str, int]:
        """How many times each message's effect was applied."""
        query = select(effects.c.message_id, func.count()).group_by(effects.c.message_id)
        with self.engine.connect() as connection:
            return {row[0]: row[1] for row in connection.execute(query)}


@contextmanager
def batched_module(database_url: str, settings: BrokerSettings) -> Iterator[BatchedModule]:
    """The module's tables created on the database, for the block."""
    engine = create_module_engine(database_url)
    metadata.create_all(engine)
    try:
        yield BatchedModule(engine, sessionmaker(engine, expire_on_commit=False), settings)
    finally:
        engine.dispose()


def rows(count: int, start: int = 1) -> list[OutboxMessage]:
    """Outbox rows of ``count`` new events, ``seq`` from ``start``."""
    events = [Counted(seq=n) for n in range(start, start + count)]
    return [OutboxMessage(id=e.message_id, event_type=e.type, payload=e.payload(), headers={},
                          attempts=0) for e in events]


def _hanging_worker(database_url: str, redis_url: str, namespace: str, hang_file: str) -> None:
    settings = BrokerSettings(url=redis_url, namespace=namespace, heartbeat_timeout_ms=1000)
    with batched_module(database_url, settings) as module:
        def when_counted_record(event: Counted, uow: UnitOfWork, _service: object) -> None:
            uow.session.execute(insert(effects).values(message_id=event.message_id))
            if event.seq == HANG_SEQ:
                uow.session.flush()
                Path(hang_file).touch()
                time.sleep(600)  # until SIGKILL, the batch's transaction open

        consumer = Consumer("batched", Subscription(Counted, when_counted_record),
                            module.unit_of_work, None)
        broker = create_broker(settings)
        worker = QueueWorker(broker, [consumer], {"batched": module.dead_letters()},
                             max_retries=3, threads=1)
        worker.start()
        time.sleep(600)


if __name__ == "__main__":
    _hanging_worker(*sys.argv[1:5])
