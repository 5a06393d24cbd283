"""The two sides of tools/bench/events.py: producers, and the processes they feed.

Run as ``events_sides.py ROLE DATABASE_URL REDIS_URL NAMESPACE GATE`` with ROLE one of
``raw-worker``, ``carve-worker``, ``relay``; each starts work when the GATE file
appears. Imported for the producers.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import dramatiq  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402
from dramatiq.brokers.redis import RedisBroker  # noqa: E402
from sqlalchemy import Column, Engine, Float, String, Table, func, insert, select  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from contracts.events import Event  # noqa: E402
from migration.runtime.broker import BrokerSettings, create_broker  # noqa: E402
from migration.runtime.db import create_module_engine  # noqa: E402
from migration.runtime.dead_letters import DeadLetterStore  # noqa: E402
from migration.runtime.delivery import Consumer  # noqa: E402
from migration.runtime.modules import Subscription, module_metadata  # noqa: E402
from migration.runtime.outbox import OutboxStore  # noqa: E402
from migration.runtime.queue_worker import QueueWorker  # noqa: E402
from migration.runtime.relay import Relay  # noqa: E402
from migration.runtime.unit_of_work import UnitOfWork  # noqa: E402

THREADS = 8
RAW_QUEUE = "bench.raw"
CONSUMER = "bench.when_ticked_record"
metadata = module_metadata("bench")
effects = Table("bench_effects", metadata, Column("id", String(64), primary_key=True),
                Column("applied_at", Float, nullable=False))


class Ticked(Event):
    """The benchmark's event: something happened, record it once."""

    type = "bench.ticked"
    seq: int


def when_ticked_record(event: Ticked, uow: UnitOfWork, _service: object) -> None:
    """The effect: one INSERT (carve adds the inbox row in the same transaction)."""
    uow.session.execute(insert(effects).values(id=event.message_id, applied_at=time.time()))


@dataclass
class BenchDatabase:
    """A PostgreSQL database of the benchmark's own, dropped afterwards."""

    url: str
    engine: Engine

    @classmethod
    @contextmanager
    def create(cls, admin_url: str) -> Iterator[BenchDatabase]:
        name = f"carve_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        db = cls(f"{url}/{name}", create_module_engine(f"{url}/{name}"))
        metadata.create_all(db.engine)
        try:
            yield db
        finally:
            db.engine.dispose()
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def reset(self) -> None:
        with self.engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())

    def count(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(effects)).scalar_one()

    def applied(self) -> dict[str, float]:
        with self.engine.connect() as connection:
            return dict(connection.execute(select(effects.c.id, effects.c.applied_at)).all())

    @staticmethod
    def forget_namespace(redis_url: str, namespace: str) -> None:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{namespace}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def wait_applied(db: BenchDatabase, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while db.count() < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {db.count()} of {count} effects applied")
        time.sleep(0.02)


def _paced(count: int, rate: int | None) -> Iterator[int]:
    start = time.perf_counter()
    for number in range(count):
        if rate:
            delay = start + number / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        yield number


def produce_carve(db: BenchDatabase, _redis: str, _ns: str, count: int,
                  rate: int | None) -> dict[str, float]:
    """Commit ``count`` events, one transaction each; returns commit times by message id."""
    sessions = sessionmaker(db.engine, expire_on_commit=False)
    outbox, inbox = metadata.tables["bench_outbox"], metadata.tables["bench_inbox"]
    commits: dict[str, float] = {}
    for number in _paced(count, rate):
        event = Ticked(seq=number)
        with UnitOfWork("bench", sessions, outbox, inbox) as uow:
            uow.publish(event)
            uow.commit()
        commits[event.message_id] = time.time()
    return commits


def _raw_broker(redis_url: str, namespace: str) -> tuple[RedisBroker, dramatiq.Actor]:
    broker = RedisBroker(url=redis_url, namespace=namespace)
    actor = dramatiq.Actor(_raw_effect, broker=broker, actor_name="raw_effect",
                           queue_name=RAW_QUEUE, priority=0, options={})
    return broker, actor


_raw_engine: list[Engine] = []


def _raw_effect(key: str) -> None:
    with _raw_engine[0].begin() as connection:
        connection.execute(insert(effects).values(id=key, applied_at=time.time()))


def produce_raw(db: BenchDatabase, redis_url: str, namespace: str, count: int,
                rate: int | None) -> dict[str, float]:
    """Send ``count`` messages straight to the actor; returns send times by key."""
    broker, actor = _raw_broker(redis_url, namespace)
    commits: dict[str, float] = {}
    for _ in _paced(count, rate):
        key = uuid.uuid4().hex
        actor.send(key)
        commits[key] = time.time()
    broker.close()
    return commits


def _run_until_terminated(start, stop, gate: Path) -> None:  # type: ignore[no-untyped-def]
    # Set up (imports, connections), say so, and start only when the timer starts.
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    (gate.parent / f"{gate.name}.{os.getpid()}.ready").touch()
    while not gate.exists() and not done.is_set():
        time.sleep(0.005)
    start()
    done.wait()
    stop()


def main(role: str, database_url: str, redis_url: str, namespace: str, gate_path: str) -> None:
    gate = Path(gate_path)
    engine = create_module_engine(database_url)
    if role == "raw-worker":
        _raw_engine.append(engine)
        broker, _ = _raw_broker(redis_url, namespace)
        worker = dramatiq.Worker(broker, worker_threads=THREADS, worker_timeout=100)
        _run_until_terminated(worker.start, worker.stop, gate)
        return
    sessions = sessionmaker(engine, expire_on_commit=False)
    broker = create_broker(BrokerSettings(url=redis_url, namespace=namespace))
    if role == "relay":
        outbox = OutboxStore(sessions, metadata.tables["bench_outbox"])
        relay = Relay({"bench": outbox}, {Ticked.type: [CONSUMER]}, broker, lambda _t: "queue")
        stop = threading.Event()
        runner = threading.Thread(target=relay.run, args=(stop,))
        _run_until_terminated(runner.start, lambda: (stop.set(), runner.join()), gate)
        return
    outbox, inbox = metadata.tables["bench_outbox"], metadata.tables["bench_inbox"]
    consumer = Consumer("bench", Subscription(Ticked, when_ticked_record),
                        lambda: UnitOfWork("bench", sessions, outbox, inbox), None)
    stores = {"bench": DeadLetterStore(sessions, metadata.tables["bench_dead_letters"])}
    worker = QueueWorker(broker, [consumer], stores, max_retries=5, threads=THREADS)
    _run_until_terminated(worker.start, worker.stop, gate)


if __name__ == "__main__":
    main(*sys.argv[1:6])
