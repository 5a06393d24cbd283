"""The order saga in process, on PostgreSQL: pending, then confirmed or rejected, told once.

Out-of-order, duplicate and contradicting answers are delivered on purpose through the
subscribers and the outbox, as a queue or a replay from the dead-letter queue would.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, text

from contracts.inventory import (
    InsufficientInventory,
    ReservedLine,
    StockReservationFailed,
    StockReserved,
    StockShortage,
)
from contracts.orders import OrderLine, PlaceOrder
from migration.runtime.delivery import Consumer, RetryLoop
from monolith.modules.orders.saga import OrderNotYetPlaced
from monolith.modules.orders.tables import order_lines, orders
from tests.builders import monolith_client, place_order_flow
from tests.support.processes import ROOT
from tests.support.saga import assert_race_outcome, outcome
from tests.support.services import scalar

CONFIRM = "orders.when_stock_reserved_confirm_order"
REJECT = "orders.when_stock_reservation_failed_reject_order"


def _plan(folder: Path, transport: str) -> Path:
    plan = folder / "carve.toml"
    plan.write_text(f'[project]\nsource = "{ROOT.as_posix()}"\n\n'
                    f'[events."order.created"]\ntransport = "{transport}"\n', encoding="utf-8")
    return plan


@contextmanager
def _order_left_in_its_outbox(folder: Path, url: str) -> Iterator[tuple[TestClient, dict]]:
    """A monolith with no retry loop and an order whose order.created waits untried in the
    outbox (queued, with no relay); ``_plan(folder, "inprocess")`` makes it in-process."""
    plan = _plan(folder, "queue")
    with monolith_client(url, CARVE_CONFIG=str(plan), CARVE_RETRY_INTERVAL="3600") as client:
        yield client, place_order_flow(client, quantity=2, stock=5)


def _consumer(client: TestClient, name: str) -> Consumer:
    return next(c for c in client.app.state.system.consumers if c.name == name)


def _write_pending_order(consumer: Consumer, order_id: str, user_id: str) -> None:
    """An order's rows written straight to the database (a late replica, say)."""
    with consumer.unit_of_work() as uow:
        uow.session.execute(insert(orders).values(
            id=order_id, user_id=user_id, user_email="ann@example.com",
            status="pending", created_at=datetime.now(UTC)))
        uow.session.execute(insert(order_lines).values(order_id=order_id, sku="SKU-1", quantity=1))
        uow.commit()


def _end_backoff(url: str, outbox: str) -> None:
    """Make every failed row of an outbox due now."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {outbox} SET available_at = now()"))
    engine.dispose()


def _notes(client: TestClient, user_id: str) -> list[tuple[str, str]]:
    found = client.get("/api/v1/notifications", params={"user_id": user_id}).json()
    return [(n["kind"], n["reference"]) for n in found]




def test_an_order_is_pending_when_placed_then_confirmed_and_the_user_told_once(
    postgres_url: str,
) -> None:
    with monolith_client(postgres_url) as client:
        flow = place_order_flow(client, quantity=2, stock=5)
        placed = flow["response"].json()
        assert (flow["response"].status_code, placed["status"]) == (201, "pending")
        order = client.get(f"/api/v1/orders/{placed['id']}").json()
        assert (order["status"], order["reason"]) == ("confirmed", None)
        assert _notes(client, flow["user_id"]) == [("order_confirmation", placed["id"])]
        stock = client.get("/api/v1/inventory/stock/SKU-1").json()
    assert (stock["reserved"], stock["available"]) == (2, 3)


def test_every_order_is_confirmed_when_its_request_returns_though_retry_loops_race_for_it(
    postgres_url: str,
) -> None:
    # Two processes' retry loops (a monolith's, a worker's) pass every millisecond over the
    # outboxes the requests write to. One that took a fresh order.created would finish the
    # saga on its own thread after the request returned (7% of orders before the grace).
    fast = {"CARVE_RETRY_INTERVAL": "0.001"}
    with monolith_client(postgres_url, **fast), monolith_client(postgres_url, **fast) as client:
        flow = place_order_flow(client, quantity=1, stock=1000)
        statuses = [flow["response"].json()["status"]]
        for _ in range(60):
            placed = client.post("/api/v1/orders", json={
                "user_id": flow["user_id"], "items": [{"sku": "SKU-1", "quantity": 1}]}).json()
            statuses.append(client.get(f"/api/v1/orders/{placed['id']}").json()["status"])
        stock = client.get("/api/v1/inventory/stock/SKU-1").json()
    assert statuses == ["pending"] + ["confirmed"] * 60
    assert stock["reserved"] == 61


def test_the_retry_loop_takes_an_untried_event_only_once_its_publisher_had_the_grace(
    tmp_path: Path, postgres_url: str,
) -> None:
    with _order_left_in_its_outbox(tmp_path, postgres_url) as (client, flow):
        order_id = flow["response"].json()["id"]
        _plan(tmp_path, "inprocess")
        delivery = client.app.state.system.delivery
        assert RetryLoop(delivery, grace=60).retry_once() == 0
        assert client.get(f"/api/v1/orders/{order_id}").json()["status"] == "pending"
        assert RetryLoop(delivery, grace=0).retry_once() >= 1
        assert client.get(f"/api/v1/orders/{order_id}").json()["status"] == "confirmed"


def test_the_retry_loop_retries_a_failed_event_within_the_grace(postgres_url: str) -> None:
    with monolith_client(postgres_url, CARVE_RETRY_INTERVAL="3600") as client:
        flow = place_order_flow(client, quantity=1, stock=5)
        early = StockReserved(order_id="soon-order", items=(ReservedLine(sku="SKU-1",
                                                                          quantity=1),))
        with _consumer(client, CONFIRM).unit_of_work() as uow:
            uow.publish(early)  # delivered at once, and refused: no such order yet
            uow.commit()
        _write_pending_order(_consumer(client, CONFIRM), "soon-order", flow["user_id"])
        _end_backoff(postgres_url, "orders_outbox")
        assert RetryLoop(client.app.state.system.delivery, grace=60).retry_once() >= 1
        assert client.get("/api/v1/orders/soon-order").json()["status"] == "confirmed"
        assert ("order_confirmation", "soon-order") in _notes(client, flow["user_id"])


def test_an_order_the_stock_no_longer_covers_is_rejected_with_the_reason_and_holds_nothing(
    tmp_path: Path, postgres_url: str,
) -> None:
    # order.created waits in the outbox while the stock drops to 1.
    with _order_left_in_its_outbox(tmp_path, postgres_url) as (client, flow):
        order_id = flow["response"].json()["id"]
        assert client.get(f"/api/v1/orders/{order_id}").json()["status"] == "pending"
        assert client.put("/api/v1/inventory/stock/SKU-1", json={"quantity": 1}).status_code == 200
        _plan(tmp_path, "inprocess")  # order.created now delivered here
        assert client.app.state.system.delivery.deliver_all() >= 1
        order = client.get(f"/api/v1/orders/{order_id}").json()
        notes = client.get("/api/v1/notifications", params={"user_id": flow["user_id"]}).json()
        stock = client.get("/api/v1/inventory/stock/SKU-1").json()
    assert (order["status"], order["reason"]) == (
        "rejected", "insufficient stock (SKU-1: 2 requested, 1 available)")
    assert [(n["kind"], n["subject"]) for n in notes] == [
        ("order_rejection", f"Order {order_id} rejected")]
    assert (stock["on_hand"], stock["reserved"]) == (1, 0)


def test_an_answer_before_its_order_row_fails_and_applies_once_the_row_is_there(
    postgres_url: str,
) -> None:
    with monolith_client(postgres_url, CARVE_RETRY_INTERVAL="3600") as client:
        user_id = place_order_flow(client, quantity=1, stock=5)["user_id"]
        early = StockReserved(order_id="early-order", items=(ReservedLine(sku="SKU-1",
                                                                           quantity=1),))
        confirm = _consumer(client, CONFIRM)
        with pytest.raises(OrderNotYetPlaced):
            confirm.apply(early)  # nothing recorded: a retry will apply it
        _write_pending_order(confirm, "early-order", user_id)
        assert confirm.apply(early) is True  # the retry
        assert confirm.apply(early) is False  # a duplicate: the inbox absorbs it
        assert client.get("/api/v1/orders/early-order").json()["status"] == "confirmed"
        assert ("order_confirmation", "early-order") in _notes(client, user_id)


def test_the_outbox_retries_an_early_answer_until_its_order_exists(postgres_url: str) -> None:
    with monolith_client(postgres_url, CARVE_RETRY_INTERVAL="3600") as client:
        flow = place_order_flow(client, quantity=1, stock=5)
        early = StockReserved(order_id="later-order", items=(ReservedLine(sku="SKU-1",
                                                                           quantity=1),))
        reserve = _consumer(client, "inventory.when_order_created_reserve_stock")
        with reserve.unit_of_work() as uow:  # inventory publishes; delivery fails at once
            uow.publish(early)
            uow.commit()
        error = scalar(postgres_url, "SELECT last_error FROM inventory_outbox "
                                      f"WHERE id = '{early.message_id}'")
        assert "OrderNotYetPlaced" in str(error)
        _write_pending_order(_consumer(client, CONFIRM), "later-order", flow["user_id"])
        _end_backoff(postgres_url, "inventory_outbox")
        client.app.state.system.delivery.deliver_all()
        assert client.get("/api/v1/orders/later-order").json()["status"] == "confirmed"
        assert ("order_confirmation", "later-order") in _notes(client, flow["user_id"])


def test_a_contradicting_or_repeated_answer_changes_nothing_and_tells_nothing(
    postgres_url: str,
) -> None:
    with monolith_client(postgres_url, CARVE_RETRY_INTERVAL="3600") as client:
        flow = place_order_flow(client, quantity=2, stock=5)
        order_id = flow["response"].json()["id"]
        late_no = StockReservationFailed(order_id=order_id, shortages=(
            StockShortage(sku="SKU-1", requested=2, available=0),))
        assert _consumer(client, REJECT).apply(late_no) is True  # applied, and ignored
        again = StockReserved(order_id=order_id, items=(ReservedLine(sku="SKU-1", quantity=2),))
        assert _consumer(client, CONFIRM).apply(again) is True  # another message id: no-op
        order = client.get(f"/api/v1/orders/{order_id}").json()
        notes = _notes(client, flow["user_id"])
    assert (order["status"], order["reason"]) == ("confirmed", None)
    assert notes == [("order_confirmation", order_id)]
    assert scalar(postgres_url, "SELECT count(*) FROM orders_outbox "
                                 "WHERE event_type IN ('order.confirmed', 'order.rejected')") == 1


def test_concurrent_orders_in_process_never_oversell_nor_deadlock(postgres_url: str) -> None:
    # Each placing thread delivers inventory's answer to orders, and orders' to
    # notifications, itself: two threads delivering each other's events must not wait on
    # each other (the module locks are taken one at a time).
    with monolith_client(postgres_url, CARVE_RETRY_INTERVAL="3600") as client:
        user = client.post("/api/v1/users", json={"email": "race@example.com", "name": "R"})
        stocked = client.put("/api/v1/inventory/stock/race-1", json={"quantity": 10})
        assert (user.status_code, stocked.status_code) == (201, 200)
        orders_service = client.app.state.system.services["orders"]
        command = PlaceOrder(user_id=user.json()["id"],
                             items=[OrderLine(sku="race-1", quantity=2)])
        # One order first: each module's sessions are first used (and set up) by one thread;
        # that set-up is not safe under concurrent first use (migration/runtime/routing.py).
        warm = orders_service.place_order(command).id

        def place(_: int) -> str | None:
            try:
                return orders_service.place_order(command).id
            except InsufficientInventory:
                return None  # refused at placement: no order written

        with ThreadPoolExecutor(16) as pool:
            placed = [order for order in pool.map(place, range(16)) if order]
    assert_race_outcome(outcome(postgres_url, postgres_url, "race-1"), [warm, *placed], 10)


def test_lines_of_one_sku_may_add_up_past_one_lines_limit(postgres_url: str) -> None:
    # Two lines of 10,000 (the most a line takes) are one item of 20,000, not a 500.
    with monolith_client(postgres_url) as client:
        user = client.post("/api/v1/users", json={"email": "bulk@example.com", "name": "B"})
        client.put("/api/v1/inventory/stock/bulk-1", json={"quantity": 20_000})
        line = {"sku": "bulk-1", "quantity": 10_000}
        placed = client.post("/api/v1/orders",
                             json={"user_id": user.json()["id"], "items": [line, line]})
        assert placed.status_code == 201, placed.text
        order = client.get(f"/api/v1/orders/{placed.json()['id']}").json()
    assert (order["status"], order["items"]) == (
        "confirmed", [{"sku": "bulk-1", "quantity": 20_000}])
