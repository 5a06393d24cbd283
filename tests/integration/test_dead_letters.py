"""Poison and malformed messages end as dead letters with their error; replay applies once."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from migration.events import dead_letter_queue
from migration.events.dead_letter_queue import list_dead_letters, replay
from migration.events.processes import broker_for, build_relay
from migration.runtime.broker import close_broker, enqueue_many
from migration.runtime.queue_messages import queue_message
from migration.runtime.queue_worker import QueueWorker, dead_letter_stores
from migration.runtime.settings import Settings
from monolith.bootstrap import bootstrap
from tests.support.events import effects, place_order, queue_env, seed_shop, wait_for, write_plan
from tests.support.processes import free_port
from tests.support.services import REDIS_URL

NOTIFY = "notifications.when_order_confirmed_send_confirmation"


def _plan(folder: Path, database_url: str) -> Path:
    """order.confirmed, what notifications consumes, through the queue; the rest in process."""
    plan = write_plan(folder, database_url, "inprocess")
    with plan.open("a", encoding="utf-8") as file:
        file.write('\n[events."order.confirmed"]\ntransport = "queue"\n')
    return plan


def _settings(plan: Path, env: dict[str, str]) -> Settings:
    settings = Settings.from_env(plan, env)
    settings.project.upgrade()
    return settings


def _worker(settings: Settings, max_retries: int = 2) -> QueueWorker:
    system = bootstrap(settings)
    project = settings.project
    broker, _ = broker_for(project)
    consumers = [c for c in system.consumers if c.module == "notifications"]
    stores = dead_letter_stores([project.module("notifications")], project.sessions)
    return QueueWorker(broker, consumers, stores, max_retries=max_retries, threads=2)


def test_a_poison_message_is_dead_lettered_and_applied_once_after_replay(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    env = queue_env(_plan(tmp_path, postgres_url), postgres_url, REDIS_URL,
                    redis_prefix[1])
    # The mail server is down: every attempt to send the confirmation fails.
    broken_env = {**env, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(free_port())}
    settings = _settings(Path(env["CARVE_CONFIG"]), broken_env)
    shop = bootstrap(settings)
    order_id = place_order(shop, seed_shop(shop))
    broker, _ = broker_for(settings.project)
    assert build_relay(settings.project, broker).drain() == 1

    broken = _worker(settings)
    broken.start()
    try:
        assert wait_for(lambda: list_dead_letters(settings.project), timeout=20)
    finally:
        broken.stop()
    [letter] = list_dead_letters(settings.project)
    assert (letter.consumer, letter.event_type, letter.attempts) == (NOTIFY, "order.confirmed", 3)
    assert "ConnectionRefusedError" in letter.error
    assert letter.payload["order_id"] == order_id
    assert effects(postgres_url)["notifications"] == 0

    # The mail server is fixed (a worker without SMTP logs instead); replay, twice over.
    fixed = _worker(Settings.from_env(Path(env["CARVE_CONFIG"]), env))
    fixed.start()
    try:
        assert [x.message_id for x in replay(settings.project, broker)] == [letter.message_id]
        enqueue_many(broker, [letter.as_message()])  # a duplicate replay changes nothing
        assert wait_for(lambda: effects(postgres_url)["notifications"] == 1, timeout=20)
        assert wait_for(lambda: broker.do_qsize(NOTIFY) == 0, timeout=20)
    finally:
        fixed.stop()
        close_broker(broker)
    assert effects(postgres_url)["notifications"] == 1
    assert list_dead_letters(settings.project) == []


def test_a_malformed_payload_is_dead_lettered_at_once_with_the_reason(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    env = queue_env(_plan(tmp_path, postgres_url), postgres_url, REDIS_URL,
                    redis_prefix[1])
    settings = _settings(Path(env["CARVE_CONFIG"]), env)
    broker, _ = broker_for(settings.project)
    enqueue_many(broker, [
        queue_message(NOTIFY, "m" * 32, "order.confirmed", {"message_id": "m" * 32, "order_id": 7}),
        queue_message(NOTIFY, "n" * 32, "order.vanished", {"message_id": "n" * 32}),
    ])
    worker = _worker(settings, max_retries=10)
    worker.start()
    try:
        assert wait_for(lambda: len(list_dead_letters(settings.project)) == 2, timeout=20)
    finally:
        worker.stop()
        close_broker(broker)
    letters = {x.message_id: x for x in list_dead_letters(settings.project)}
    invalid, unknown = letters["m" * 32], letters["n" * 32]
    assert invalid.attempts == unknown.attempts == 1  # never retried
    assert "payload is not a valid 'order.confirmed'" in invalid.error
    assert "order_id" in invalid.error and "user_id" in invalid.error
    assert "no contract declares the event type 'order.vanished'" in unknown.error


def test_replay_keeps_a_letter_the_replayed_message_caused_again(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = queue_env(_plan(tmp_path, postgres_url), postgres_url, REDIS_URL,
                    redis_prefix[1])
    settings = _settings(Path(env["CARVE_CONFIG"]), env)
    broker, _ = broker_for(settings.project)
    store = dead_letter_stores([settings.project.module("notifications")],
                               settings.project.sessions)["notifications"]
    store.record(message_id="m" * 32, consumer=NOTIFY, event_type="order.confirmed",
                 payload={"message_id": "m" * 32, "order_id": 7}, headers={},
                 error="malformed message: payload is not a valid 'order.confirmed'", attempts=1)
    [before] = store.list()

    def enqueue_then_let_the_worker_fail(broker_: object, messages: list) -> None:
        # The worker is faster than the replay: it dead-letters the message again
        # before the replay forgets the letter it read.
        enqueue_many(broker_, messages)  # type: ignore[arg-type]
        assert wait_for(lambda: [x.failed_at for x in store.list()] not in ([], [before.failed_at]),
                        timeout=20)

    monkeypatch.setattr(dead_letter_queue, "enqueue_many", enqueue_then_let_the_worker_fail)
    worker = _worker(settings)
    worker.start()
    try:
        assert [x.message_id for x in replay(settings.project, broker)] == ["m" * 32]
    finally:
        worker.stop()
        close_broker(broker)
    [after] = list_dead_letters(settings.project)  # the new failure is kept, not lost
    assert after.message_id == "m" * 32 and after.failed_at > before.failed_at
    assert "payload is not a valid 'order.confirmed'" in after.error
