"""A running monolith refuses a re-read carve.toml that would lose a remote module's events."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from contracts.orders import OrderLine, PlaceOrder
from contracts.users import NewUser
from migration.events.processes import broker_for, build_relay
from migration.runtime.broker import close_broker
from migration.runtime.settings import Settings
from monolith.bootstrap import bootstrap
from tests.fakes import FakeInventory
from tests.support.events import write_plan
from tests.support.services import scalar


def test_a_running_monolith_keeps_queue_delivery_for_a_remote_consumer(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    plan = write_plan(tmp_path, postgres_url, "queue")
    env = {"DATABASE_URL": postgres_url, "CARVE_INVENTORY_BINDING": "remote",
           "CARVE_INVENTORY_URL": "http://127.0.0.1:9"}
    settings = Settings.from_env(plan, env)
    settings.project.upgrade(["users", "orders", "notifications"])
    monolith = bootstrap(settings, {"inventory": FakeInventory(**{"sku-1": 5})})
    broker, _ = broker_for(settings.project)
    relay = build_relay(settings.project, broker)
    try:
        # Edited by hand (or by an older carve): inventory would never see order.created.
        plan.write_text(plan.read_text().replace('"queue"', '"inprocess"'), encoding="utf-8")
        with caplog.at_level(logging.WARNING, logger="carve.events"):
            user = monolith.services["users"].register_user(
                NewUser(email="ada@example.com", name="Ada"))
            monolith.services["orders"].place_order(
                PlaceOrder(user_id=user.id, items=[OrderLine(sku="sku-1", quantity=1)]))
            for _ in range(3):  # every delivery pass asks again
                assert monolith.delivery.deliver_all() == 0
                assert relay.queue_types() == ["order.created"]
    finally:
        close_broker(broker)
        monolith.close()

    pending = "SELECT count(*) FROM orders_outbox WHERE dispatched_at IS NULL"
    assert scalar(postgres_url, pending) == 1  # still waiting for the relay, not lost
    assert scalar(postgres_url, "SELECT count(*) FROM notifications_notifications") == 0
    refusals = [r.getMessage() for r in caplog.records
                if "keeping the previous event transports" in r.getMessage()]
    assert len(refusals) == 2  # once by the monolith, once by the relay: not every pass
    assert "module 'inventory' is remote but consumes 'order.created'" in refusals[0]
