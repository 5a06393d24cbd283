"""Batched queue delivery: several relayed rows in one message, applied in one transaction.

What a batch must not change (docs/adr/0014-batched-delivery.md): an event that fails
inside a batch is retried or dead-lettered alone, the others apply once; a message
repeated inside a batch or across batches applies once; a worker killed in the middle
of a batch loses nothing and applies nothing twice; each event keeps its own trace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import redis
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from migration.runtime.broker import BrokerSettings, close_broker, create_broker, enqueue_many
from migration.runtime.outbox import OutboxStore
from migration.runtime.queue_messages import batch_message
from migration.runtime.relay import Relay
from tests.support.batches import CONSUMER, Counted, batched_module, metadata, rows
from tests.support.processes import ROOT
from tests.support.services import REDIS_URL
from tests.support.waiting import wait_for


def _settings(namespace: str) -> BrokerSettings:
    # Quick retries; a worker id silent for a second is dead and its messages go back.
    return BrokerSettings(url=REDIS_URL, namespace=namespace, min_backoff_ms=50,
                          max_backoff_ms=200, heartbeat_timeout_ms=1000,
                          maintenance_chance=1_000_000)


def _send(settings: BrokerSettings, *batches: list) -> None:
    broker = create_broker(settings)
    try:
        enqueue_many(broker, [batch_message(CONSUMER, batch) for batch in batches])
    finally:
        close_broker(broker)


def _queue_empty(settings: BrokerSettings) -> bool:
    broker = create_broker(settings)
    try:
        return int(broker.do_qsize(CONSUMER)) == 0
    finally:
        close_broker(broker)


def test_the_relay_sends_a_subscriber_its_rows_in_batches_applied_once(
    postgres_url: str, redis_prefix: tuple[redis.Redis, str],
) -> None:
    settings = _settings(redis_prefix[1])
    with batched_module(postgres_url, settings) as module:
        published = []
        for seq in range(7):
            with module.unit_of_work() as uow:
                event = Counted(seq=seq)
                uow.publish(event)
                uow.commit()
            published.append(event.message_id)
        broker = create_broker(settings)
        outbox = OutboxStore(module.sessions, metadata.tables["batched_outbox"])
        relay = Relay({"batched": outbox}, {Counted.type: [CONSUMER]}, broker,
                      lambda _t: "queue", batch_events=3)
        try:
            assert relay.drain() == 7
        finally:
            close_broker(broker)
        assert (relay.stats.rows, relay.stats.messages) == (7, 3)  # 3 + 3 + 1
        with module.worker():
            assert wait_for(lambda: len(module.applied()) == 7, timeout=20)
            assert wait_for(lambda: _queue_empty(settings), timeout=20)
        assert module.applied() == dict.fromkeys(published, 1)


def test_an_event_failing_inside_a_batch_is_retried_alone_and_the_others_apply_once(
    postgres_url: str, redis_prefix: tuple[redis.Redis, str],
) -> None:
    settings = _settings(redis_prefix[1])
    with batched_module(postgres_url, settings) as module:
        batch = rows(6)
        module.failures.left.update({2: 2, 4: -1})  # seq 2 fails twice, seq 4 always
        _send(settings, batch)
        with module.worker(max_retries=3):
            assert wait_for(lambda: len(module.dead_letters().list()) == 1, timeout=30)
            assert wait_for(lambda: len(module.applied()) == 5, timeout=30)
            assert wait_for(lambda: _queue_empty(settings), timeout=20)
        [letter] = module.dead_letters().list()
    ids = [row.id for row in batch]
    assert module.applied() == {i: 1 for n, i in enumerate(ids, start=1) if n != 4}
    assert (letter.message_id, letter.consumer, letter.attempts) == (ids[3], CONSUMER, 4)
    assert "subscriber failed on seq 4" in letter.error
    assert letter.payload["seq"] == 4  # replayable as the single event it was
    assert module.failures.attempts[2] == 3  # in the batch, alone, and its retry


def test_a_malformed_event_inside_a_batch_is_dead_lettered_alone_at_once(
    postgres_url: str, redis_prefix: tuple[redis.Redis, str],
) -> None:
    settings = _settings(redis_prefix[1])
    with batched_module(postgres_url, settings) as module:
        good, bad = rows(2)
        broken = bad.__class__(id=bad.id, event_type=bad.event_type,
                               payload={**bad.payload, "seq": "not a number"}, headers={},
                               attempts=0)
        _send(settings, [good, broken])
        with module.worker(max_retries=10):
            assert wait_for(lambda: len(module.dead_letters().list()) == 1, timeout=20)
            assert wait_for(lambda: len(module.applied()) == 1, timeout=20)
        [letter] = module.dead_letters().list()
    assert module.applied() == {good.id: 1}
    assert (letter.message_id, letter.attempts) == (bad.id, 1)
    assert "payload is not a valid 'batched.counted'" in letter.error


def test_a_message_repeated_inside_a_batch_or_across_batches_applies_once(
    postgres_url: str, redis_prefix: tuple[redis.Redis, str],
) -> None:
    settings = _settings(redis_prefix[1])
    with batched_module(postgres_url, settings) as module:
        a, b, c, d = rows(4)
        _send(settings, [a, b, b, c], [c, d, a, d], [a])
        with module.worker(threads=3):
            assert wait_for(lambda: len(module.applied()) == 4, timeout=20)
            assert wait_for(lambda: _queue_empty(settings), timeout=20)
        assert module.dead_letters().list() == []
    assert module.applied() == {a.id: 1, b.id: 1, c.id: 1, d.id: 1}
    assert module.failures.attempts == {1: 1, 2: 1, 3: 1, 4: 1}


def test_a_worker_killed_in_the_middle_of_a_batch_loses_nothing_and_applies_nothing_twice(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str],
) -> None:
    settings = _settings(redis_prefix[1])
    hang = tmp_path / "hanging"
    with batched_module(postgres_url, settings) as module:
        batch = rows(5)
        _send(settings, batch)
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.support.batches", postgres_url, REDIS_URL,
             settings.namespace, str(hang)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            # Seq 1 to 3 are written in the batch's transaction, which is still open.
            assert wait_for(hang.exists, timeout=30), "the worker never reached seq 3"
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        assert module.applied() == {}  # nothing of the batch committed
        # Another worker takes the message back once the dead one's heartbeat is stale.
        with module.worker():
            assert wait_for(lambda: len(module.applied()) == 5, timeout=30)
            assert wait_for(lambda: _queue_empty(settings), timeout=20)
        assert module.applied() == {row.id: 1 for row in batch}
        assert module.dead_letters().list() == []


def test_a_batch_dead_lettered_whole_is_replayed_as_the_batch_it_was(
    postgres_url: str, redis_prefix: tuple[redis.Redis, str],
) -> None:
    # What a worker of an older release does with a batch: it cannot read it, and buries
    # the message whole (its payload the list of entries).
    settings = _settings(redis_prefix[1])
    with batched_module(postgres_url, settings) as module:
        batch = rows(2)
        sent = batch_message(CONSUMER, batch)
        store = module.dead_letters()
        store.record(message_id=sent.message_id, consumer=CONSUMER, event_type="?",
                     payload=sent.args[0], headers={}, error="malformed message", attempts=1)
        [letter] = store.list()
        broker = create_broker(settings)
        try:
            enqueue_many(broker, [letter.as_message()])
        finally:
            close_broker(broker)
        with module.worker():
            assert wait_for(lambda: len(module.applied()) == 2, timeout=20)
        assert module.applied() == {row.id: 1 for row in batch}


def test_each_event_of_a_batch_is_consumed_in_its_own_trace(
    postgres_url: str, redis_prefix: tuple[redis.Redis, str], spans: InMemorySpanExporter,
) -> None:
    settings = _settings(redis_prefix[1])
    with batched_module(postgres_url, settings) as module:
        batch = [replace(row, headers={"traceparent": f"00-{n:032x}-{n:016x}-01"})
                 for n, row in enumerate(rows(2), start=1)]
        _send(settings, batch)
        with module.worker():
            assert wait_for(lambda: len(module.applied()) == 2, timeout=20)
    consumed = sorted((s for s in spans.get_finished_spans()
                       if s.name == "consume batched.counted"), key=lambda s: s.context.trace_id)
    assert [(s.context.trace_id, s.parent.span_id if s.parent else None) for s in consumed] == [
        (1, 1), (2, 2)]  # each the child of the span its event was published in
    assert [s.attributes["messaging.message.id"] for s in consumed] == [r.id for r in batch]
    assert {s.attributes["messaging.batch.message_count"] for s in consumed} == {"2"}
