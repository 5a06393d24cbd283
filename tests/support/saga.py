"""Support for the order saga's end-to-end tests: a plan with every event on the queue, and
what the databases say about the outcome of each order."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Connection, create_engine, text

from tests.support.processes import ROOT

#: Every event of the order saga, in the order they happen.
SAGA_EVENTS = ("order.created", "stock.reserved", "stock.reservation_failed",
               "order.confirmed", "order.rejected")


def write_queue_plan(folder: Path, database_url: str | None = None,
                     transport: str = "queue") -> Path:
    """A carve.toml delivering every event of the saga through ``transport``."""
    database = f'[database]\nurl = "{database_url}"\n\n' if database_url else ""
    events = "".join(f'[events."{event}"]\ntransport = "{transport}"\n\n'
                     for event in SAGA_EVENTS)
    plan = folder / "carve.toml"
    plan.write_text(f'[project]\nsource = "{ROOT.as_posix()}"\n\n{database}{events}',
                    encoding="utf-8")
    return plan


def place_concurrently(base: str, user_id: str, sku: str, quantity: int,
                       count: int) -> list[httpx.Response]:
    """``count`` orders of ``quantity`` units of ``sku``, all sent at once."""
    body = {"user_id": user_id, "items": [{"sku": sku, "quantity": quantity}]}

    def place(_: int) -> httpx.Response:
        return httpx.post(f"{base}/api/v1/orders", json=body, timeout=30)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(place, range(count)))


@dataclass(frozen=True)
class Outcome:
    """Where every order of the race ended, read from the databases."""

    statuses: dict[str, str]                 # order id → status
    confirmed_units: int
    reserved_units: int                      # inventory_stock.reserved of the SKU
    notifications: dict[str, list[str]]      # order id → kinds of notification sent

    @property
    def settled(self) -> bool:
        return bool(self.statuses) and "pending" not in self.statuses.values() and all(
            self.notifications.get(order) for order in self.statuses)


def assert_race_outcome(result: Outcome, placed: list[str], stock: int) -> None:
    """What the saga promises whatever the interleaving: every order placed (201) ends
    confirmed or rejected and its user is told that, once; the stock is never oversold and
    exactly the confirmed units are held. Orders of equal size that divide the stock, more
    of them than it holds: every unit ends confirmed."""
    assert sorted(result.statuses) == sorted(placed)  # a 409 at placement writes no order
    assert set(result.statuses.values()) <= {"confirmed", "rejected"}
    assert result.reserved_units == result.confirmed_units == stock
    assert result.notifications == {
        order: ["order_confirmation" if status == "confirmed" else "order_rejection"]
        for order, status in result.statuses.items()}


def outcome(orders_url: str, inventory_url: str, sku: str) -> Outcome:
    """Read the race's outcome: orders and notifications from the monolith's database,
    the stock from inventory's (the same one unless inventory was extracted)."""
    with _connection(orders_url) as connection:
        statuses = dict(connection.execute(text("SELECT id, status FROM orders_orders")).all())
        confirmed = connection.execute(text(
            "SELECT coalesce(sum(l.quantity), 0) FROM orders_lines l JOIN orders_orders o "
            "ON o.id = l.order_id WHERE o.status = 'confirmed'")).scalar_one()
        notes: dict[str, list[str]] = {}
        for reference, kind in connection.execute(text(
                "SELECT reference, kind FROM notifications_notifications ORDER BY kind")):
            notes.setdefault(reference, []).append(kind)
    with _connection(inventory_url) as connection:
        reserved = connection.execute(text("SELECT reserved FROM inventory_stock WHERE sku = :s"),
                                      {"s": sku}).scalar_one()
    return Outcome(statuses, int(confirmed), reserved, notes)


@contextmanager
def _connection(url: str) -> Iterator[Connection]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()
