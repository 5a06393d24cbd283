"""An extracted service's queue worker: the relay feeds it, its dead letters stay with it."""

from __future__ import annotations

from pathlib import Path

import redis
from sqlalchemy import create_engine, text

from migration.events.processes import broker_for, build_relay, build_service_worker
from migration.extraction.running import service_worker_root
from migration.runtime.broker import close_broker, enqueue_many
from migration.runtime.project import Project
from migration.runtime.queue_messages import queue_message
from migration.runtime.service import ServiceWorker
from tests.support.events import queue_env, write_plan
from tests.support.processes import ROOT
from tests.support.services import REDIS_URL
from tests.support.waiting import wait_for

RESERVE = "inventory.when_order_created_reserve_stock"
SERVICE = ROOT / "extracted" / "inventory-service"


def test_the_relay_sends_to_the_subscribers_of_a_remote_module(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    env = {**queue_env(write_plan(tmp_path, postgres_url, "queue"), postgres_url, REDIS_URL,
                       redis_prefix[1]), "CARVE_INVENTORY_BINDING": "remote"}
    project = Project.load(env["CARVE_CONFIG"], env)
    broker, _ = broker_for(project)
    try:
        relay = build_relay(project, broker)
    finally:
        close_broker(broker)
    # inventory's outbox lives with the service; its subscriber still gets order.created.
    assert "inventory" not in relay.outboxes
    assert relay.routes["order.created"] == [RESERVE]
    assert relay.routes["order.confirmed"] == [
        "notifications.when_order_confirmed_send_confirmation"]


def test_a_service_workers_dead_letters_stay_in_the_services_database(
    postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    app = service_worker_root(SERVICE)
    env = {"DATABASE_URL": postgres_url, "CARVE_BROKER_URL": REDIS_URL,
           "CARVE_BROKER_NAMESPACE": redis_prefix[1], "CARVE_BROKER_MAX_RETRIES": "1"}
    app.migrate(env)
    process = build_service_worker(ServiceWorker.of(app.runtime(env)), None, env, threads=2)
    assert process.worker.queues == {RESERVE}
    enqueue_many(process.worker.broker, [queue_message(
        RESERVE, "m" * 32, "order.created", {"message_id": "m" * 32, "order_id": 7})])
    process.worker.start()
    try:
        assert wait_for(lambda: _dead_letters(postgres_url) == [(RESERVE, 1)], timeout=20)
    finally:
        process.worker.stop()
        process.close()


def _dead_letters(url: str) -> list[tuple[str, int]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT consumer, attempts FROM inventory_dead_letters")).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]
