"""The order saga's answers on the queue: one that comes before its order is dead-lettered,
and replayed once the order is there it settles it, once, however often it is replayed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import redis
from sqlalchemy import create_engine, insert, text

from contracts.inventory import ReservedLine, StockReserved
from migration.events.dead_letter_queue import list_dead_letters, replay
from migration.events.processes import broker_for
from migration.runtime.broker import close_broker, enqueue_many
from migration.runtime.queue_messages import queue_message
from migration.runtime.queue_worker import QueueWorker, dead_letter_stores
from migration.runtime.settings import Settings
from monolith.bootstrap import bootstrap
from monolith.modules.orders.tables import order_lines, orders
from tests.support.events import queue_env, wait_for
from tests.support.processes import ROOT
from tests.support.services import REDIS_URL

CONFIRM = "orders.when_stock_reserved_confirm_order"
EVENTS = ("order.created", "stock.reserved", "stock.reservation_failed", "order.confirmed",
          "order.rejected")


def _plan(folder: Path) -> Path:
    plan = folder / "carve.toml"
    plan.write_text(f'[project]\nsource = "{ROOT.as_posix()}"\n\n' + "".join(
        f'[events."{event}"]\ntransport = "queue"\n\n' for event in EVENTS), encoding="utf-8")
    return plan


def _status_and_announcements(url: str) -> tuple[str | None, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            status = connection.execute(text(
                "SELECT status FROM orders_orders WHERE id = 'early-order'")).scalar()
            announced = connection.execute(text(
                "SELECT count(*) FROM orders_outbox WHERE event_type = 'order.confirmed'"
            )).scalar_one()
    finally:
        engine.dispose()
    return status, announced


def test_an_early_answer_is_dead_lettered_then_replayed_into_one_confirmation(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str],
) -> None:
    env = queue_env(_plan(tmp_path), postgres_url, REDIS_URL, redis_prefix[1])
    settings = Settings.from_env(Path(env["CARVE_CONFIG"]), env)
    settings.project.upgrade()
    system = bootstrap(settings)
    broker, _ = broker_for(settings.project)
    confirm = next(c for c in system.consumers if c.name == CONFIRM)
    stores = dead_letter_stores([settings.project.module("orders")], settings.project.sessions)
    worker = QueueWorker(broker, [confirm], stores, max_retries=1, threads=2)
    early = StockReserved(order_id="early-order", items=(ReservedLine(sku="A", quantity=1),))
    worker.start()
    try:
        enqueue_many(broker, [queue_message(CONFIRM, early.message_id, early.type,
                                            early.payload())])
        assert wait_for(lambda: list_dead_letters(settings.project), timeout=20)
        [letter] = list_dead_letters(settings.project)
        assert "OrderNotYetPlaced" in letter.error
        with confirm.unit_of_work() as uow:  # the order's row arrives late
            uow.session.execute(insert(orders).values(
                id="early-order", user_id="u", user_email="u@example.com", status="pending",
                created_at=datetime.now(UTC)))
            uow.session.execute(insert(order_lines).values(
                order_id="early-order", sku="A", quantity=1))
            uow.commit()
        assert [x.message_id for x in replay(settings.project, broker)] == [early.message_id]
        enqueue_many(broker, [letter.as_message()])  # replayed twice over
        assert wait_for(lambda: _status_and_announcements(postgres_url) == ("confirmed", 1),
                        timeout=20)
        assert wait_for(lambda: broker.do_qsize(CONFIRM) == 0, timeout=20)
    finally:
        worker.stop()
        close_broker(broker)
        system.close()
    assert _status_and_announcements(postgres_url) == ("confirmed", 1)
    assert list_dead_letters(settings.project) == []
