"""The relay: several relays share an outbox on PostgreSQL, every row once to every subscriber."""

from __future__ import annotations

import threading
from pathlib import Path

import redis
from dramatiq import Message
from sqlalchemy import text

from migration.events.processes import broker_for, build_relay
from migration.runtime.broker import BrokerSettings, close_broker
from migration.runtime.outbox import OutboxStore
from migration.runtime.queue_messages import is_batch, split
from migration.runtime.settings import Settings
from monolith.bootstrap import bootstrap
from tests.support.batches import Counted, batched_module
from tests.support.batches import metadata as batched_metadata
from tests.support.events import effects, place_order, queue_env, seed_shop, write_plan
from tests.support.services import REDIS_URL

CONSUMERS = ("inventory.when_order_created_reserve_stock",)


def test_concurrent_relays_send_every_row_once_to_every_subscriber(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    client, namespace = redis_prefix
    plan = write_plan(tmp_path, postgres_url, "queue")
    settings = Settings.from_env(plan, queue_env(plan, postgres_url, REDIS_URL, namespace))
    settings.project.upgrade()
    shop = bootstrap(settings)
    user_id = seed_shop(shop)
    for _ in range(300):
        place_order(shop, user_id)

    brokers = [broker_for(settings.project)[0] for _ in range(3)]
    relays = [build_relay(settings.project, broker, batch_size=20) for broker in brokers]
    threads = [threading.Thread(target=relay.drain) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(relay.stats.rows for relay in relays) == 300
    assert sum(1 for relay in relays if relay.stats.rows) >= 2  # the work was shared
    for consumer in CONSUMERS:
        sent = [Message.decode(data) for data in client.hvals(f"{namespace}:{consumer}.msgs")]
        ids = [m.message_id for message in sent
               for m in (split(message) if is_batch(message) else [message])]
        assert len(ids) == len(set(ids)) == 300  # in batches of up to 20 (one relay pass)
        assert client.llen(f"{namespace}:{consumer}") == len(sent) < 300
    assert effects(postgres_url)["pending"] == 0
    for broker in brokers:
        close_broker(broker)


def test_with_the_broker_down_events_wait_in_the_outbox(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    plan = write_plan(tmp_path, postgres_url, "queue")
    env = queue_env(plan, postgres_url, "redis://127.0.0.1:1/0", redis_prefix[1])
    settings = Settings.from_env(plan, env)
    settings.project.upgrade()
    shop = bootstrap(settings)
    place_order(shop, seed_shop(shop))  # the API answers: publishing never needs the broker

    relay = build_relay(settings.project, broker_for(settings.project)[0])
    stop = threading.Event()
    runner = threading.Thread(target=relay.run, args=(stop,))
    runner.start()
    stop.wait(1.0)
    stop.set()
    runner.join(timeout=10)
    assert relay.stats.failures >= 1 and relay.stats.rows == 0
    assert effects(postgres_url)["pending"] == 1


def test_the_relays_mark_skips_the_wal_flush_wait_in_its_own_transaction_only(
    postgres_url: str,
) -> None:
    settings = BrokerSettings(url=REDIS_URL, namespace="unused")
    with batched_module(postgres_url, settings) as module:
        with module.unit_of_work() as uow:
            uow.publish(Counted(seq=1))
            uow.commit()
        outbox = OutboxStore(module.sessions, batched_metadata.tables["batched_outbox"])
        with outbox.transaction() as session:
            assert len(outbox.claim(session, [Counted.type])) == 1
            assert session.execute(text("SHOW synchronous_commit")).scalar_one() == "off"
        with outbox.transaction() as session:
            assert outbox.claim(session, [Counted.type]) == []  # the mark committed
            assert session.execute(text("SHOW synchronous_commit")).scalar_one() == "on"
