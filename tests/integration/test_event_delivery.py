"""In-process delivery through the outbox: once in effect, even when a subscriber fails."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from tests.builders import monolith_client, place_order_flow
from tests.fakes import RecordingSender
from tests.support.waiting import wait_for


def _outbox(url: str, event_type: str = "order.confirmed") -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(
                text("SELECT dispatched_at IS NOT NULL, attempts, last_error FROM orders_outbox "
                     "WHERE event_type = :type"), {"type": event_type}
            ))
    finally:
        engine.dispose()


def test_a_failing_subscriber_is_retried_and_applies_once(postgres_url: str) -> None:
    sender = RecordingSender(failures=1)
    with monolith_client(postgres_url, adapters={"sender": sender}) as client:
        flow = place_order_flow(client, quantity=2, stock=5)
        assert flow["response"].status_code == 201
        # The first send failed: the order stands (confirmed), order.confirmed waits in the
        # outbox.
        (dispatched, attempts, error), = _outbox(postgres_url)
        assert (dispatched, attempts) == (False, 1)
        assert "mail server down" in error
        assert wait_for(lambda: _outbox(postgres_url)[0][0], timeout=10, interval=0.05)
        notes = client.get("/api/v1/notifications", params={"user_id": flow["user_id"]}).json()
        stock = client.get("/api/v1/inventory/stock/SKU-1").json()
    assert len(notes) == 1 and len(sender.sent) == 1
    # Inventory and orders applied their events at once; the retry did not reserve again.
    assert stock["reserved"] == 2


def test_redelivering_the_same_message_changes_nothing(postgres_url: str) -> None:
    # No retry loop here (it runs every 0.2 s in the tests): it could redeliver the message
    # between the reset below and the pass the test makes itself.
    with monolith_client(postgres_url, CARVE_RETRY_INTERVAL="3600") as client:
        flow = place_order_flow(client, quantity=1, stock=5)
        system = client.app.state.system
        engine = create_engine(postgres_url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE orders_outbox SET dispatched_at = NULL"))
        engine.dispose()
        # order.created (inventory: applied already) and order.confirmed (notifications: too).
        assert system.delivery.deliver_all() == 2
        notes = client.get("/api/v1/notifications", params={"user_id": flow["user_id"]}).json()
        stock = client.get("/api/v1/inventory/stock/SKU-1").json()
    assert len(notes) == 1
    assert stock["reserved"] == 1
