"""A split, cut-over and rollback while the monolith keeps writing, on real PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from contracts.inventory import StockLevel
from contracts.orders import OrderLine, PlaceOrder
from contracts.users import NewUser
from migration.datasplit.cutover import check, cutover, rollback
from migration.datasplit.split import run_split, start_split
from migration.runtime.config import load_config
from migration.runtime.routing import ModuleMoving
from migration.runtime.settings import Settings
from monolith.bootstrap import System, bootstrap
from tests.support.datasplit import Split, stock_rows


class QuietReport:
    """A report that keeps what the split said."""

    def __init__(self) -> None:
        self.phases: list[str] = []

    def phase(self, journal) -> None:  # type: ignore[no-untyped-def]
        self.phases.append(journal.phase.value)

    def rows(self, copied: int, total: int) -> None:
        pass


class Writer(threading.Thread):
    """Keeps writing through the monolith's use cases; remembers every acknowledged write."""

    def __init__(self, system: System) -> None:
        super().__init__(daemon=True)
        self.system = system
        self.levels: dict[str, int] = {}
        self.orders: list[str] = []
        self.retries = 0
        self.failures: list[BaseException] = []
        self.stop = threading.Event()

    def run(self) -> None:
        inventory, orders = self.system.services["inventory"], self.system.services["orders"]
        user = self.system.services["users"].register_user(
            NewUser(email="writer@example.com", name="Writer"))
        n = 0
        while not self.stop.is_set():
            n += 1
            sku = f"W-{n % 25}"
            level = StockLevel(quantity=n)
            self._acknowledged(lambda s=sku, q=level: inventory.set_stock(s, q))
            self.levels[sku] = n
            if n % 3 == 0:
                order = self._acknowledged(lambda: orders.place_order(PlaceOrder(
                    user_id=user.id, items=[OrderLine(sku="O-1", quantity=1)])))
                self.orders.append(order.id)

    def _acknowledged(self, write: Callable[[], object]):  # type: ignore[no-untyped-def]
        while True:
            try:
                return write()
            except ModuleMoving:  # the 503 a client would retry after Retry-After
                self.retries += 1
                time.sleep(0.01)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.failures.append(exc)
                raise


def test_no_acknowledged_write_is_lost_or_doubled_across_split_and_cutover(split: Split) -> None:
    stock_rows(split, 30_000)
    settings = Settings.from_env(split.plan, {"CARVE_RETRY_INTERVAL": "0.2"})
    system = bootstrap(settings)
    system.services["inventory"].set_stock("O-1", StockLevel(quantity=1_000_000))
    writer = Writer(system)
    try:
        with split.project() as project:
            journal = start_split(project, "inventory", split.target, batch=4000)
            writer.start()
            report = QuietReport()
            run_split(project, journal, report)
            time.sleep(0.3)  # writes land in the change log after the copy
            move = cutover(project, "inventory", max_freeze_ms=2000)
            time.sleep(0.3)  # and on the new database after the switch
        writer.stop.set()
        writer.join(timeout=30)
        system.delivery.deliver_all()
    finally:
        writer.stop.set()
        system.close()

    assert not writer.failures
    assert report.phases == ["copying", "catching up", "ready for cut-over"]
    assert move.verification is not None and move.verification.equal
    assert len(writer.levels) == 25 and len(writer.orders) > 5
    new, old = split.target, split.source
    for sku, level in writer.levels.items():
        assert split.scalar(new, f"SELECT on_hand FROM inventory_stock WHERE sku = '{sku}'") \
            == level
    assert split.scalar(new, "SELECT count(*) FROM inventory_stock WHERE sku LIKE 'SKU-%'") \
        == 30_000
    reserved = split.scalar(new, "SELECT count(*) FROM inventory_reservations")
    assert reserved == len(writer.orders)  # each acknowledged order reserved once, none lost
    assert split.scalar(old, "SELECT count(*) FROM inventory_reservations") < reserved
    with split.project() as project:
        assert check(project, "inventory").equal


def test_rollback_brings_back_every_write_made_on_the_new_database(split: Split) -> None:
    stock_rows(split, 5_000)
    with split.project() as project:
        run_split(project, start_split(project, "inventory", split.target), QuietReport())
        cutover(project, "inventory")
    settings = Settings.from_env(split.plan, {})
    system = bootstrap(settings)
    try:
        inventory = system.services["inventory"]
        for n in range(1, 51):
            inventory.set_stock(f"SKU-{n}", StockLevel(quantity=100_000 + n))
            inventory.set_stock(f"AFTER-{n}", StockLevel(quantity=n))
        assert split.scalar(split.source, "SELECT count(*) FROM inventory_stock "
                                          "WHERE sku LIKE 'AFTER-%'") == 0
        with split.project() as project:
            move = rollback(project, "inventory")
        assert move.drained >= 100
        inventory.set_stock("BACK-1", StockLevel(quantity=7))  # follows carve.toml back
    finally:
        system.close()
    old = split.source
    assert split.scalar(old, "SELECT count(*) FROM inventory_stock WHERE sku LIKE 'AFTER-%'") \
        == 50
    assert split.scalar(old, "SELECT sum(on_hand) FROM inventory_stock "
                             "WHERE sku IN ('SKU-1', 'SKU-50')") == 200_051
    assert split.scalar(old, "SELECT on_hand FROM inventory_stock WHERE sku = 'BACK-1'") == 7
    plan = load_config(split.plan)
    assert plan.module("inventory").database is None  # back on the shared database
    assert "# a test's plan" in split.plan.read_text()  # its comments kept
