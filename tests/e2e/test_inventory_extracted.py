"""Inventory moves out: the monolith calls the extracted service and survives its outage,
the service consumes order.created from the queue into its own database, and its answers
(stock.reserved, stock.reservation_failed) travel back through its own outbox and relay.

order.created is on the queue in these plans, so the monolith starts with inventory
remote and leaves the event in the orders outbox for the relay.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text

from tests.support.events import carve_background, queue_env, wait_for
from tests.support.processes import ROOT, carve_process, free_port
from tests.support.saga import assert_race_outcome, outcome, place_concurrently
from tests.support.services import REDIS_URL, fresh_postgres_database


@pytest.fixture
def service_database() -> Iterator[str]:
    """The inventory service's own PostgreSQL database."""
    with fresh_postgres_database() as url:
        yield url


def extract_inventory(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "migration.cli", "extract", "inventory", "--out",
                    str(out)], cwd=ROOT, check=True, capture_output=True, timeout=120)
    return out / "inventory-service"


def write_queue_plan(folder: Path) -> Path:
    plan = folder / "carve.toml"
    plan.write_text(f'[project]\nsource = "{ROOT.as_posix()}"\n\n'
                    '[events."order.created"]\ntransport = "queue"\n', encoding="utf-8")
    return plan


def start_service(folder: Path, port: int, database: str,
                  env: dict[str, str] | None = None) -> AbstractContextManager:
    return carve_process(
        ["run", "service", "inventory", "--path", str(folder), "--port", str(port)],
        env={**(env or {}), "DATABASE_URL": database}, cwd=folder,
        ready_url=f"http://127.0.0.1:{port}/readyz")


def order(monolith: str, user_id: str, quantity: int) -> httpx.Response:
    body = {"user_id": user_id, "items": [{"sku": "sku-1", "quantity": quantity}]}
    return httpx.post(f"{monolith}/api/v1/orders", json=body, timeout=15)


def test_the_monolith_orders_through_the_inventory_service(
    tmp_path: Path, postgres_url: str, service_database: str
) -> None:
    folder, plan = extract_inventory(tmp_path), write_queue_plan(tmp_path)
    service_port, monolith_port = free_port(), free_port()
    service, monolith = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{monolith_port}"
    env = {"DATABASE_URL": postgres_url, "CARVE_INVENTORY_BINDING": "remote",
           "CARVE_INVENTORY_URL": service, "CARVE_INVENTORY_BREAKER_WAIT": "1"}
    with carve_process(["run", "monolith", "--config", str(plan), "--port", str(monolith_port)],
                       env=env, ready_url=f"{monolith}/readyz"):
        with start_service(folder, service_port, service_database):
            assert httpx.put(f"{service}/api/v1/inventory/stock/sku-1",
                             json={"quantity": 5}).status_code == 200
            # The monolith still serves inventory's API, from the service's data.
            through = httpx.get(f"{monolith}/api/v1/inventory/stock/sku-1")
            assert through.status_code == 200 and through.json()["on_hand"] == 5
            user = httpx.post(f"{monolith}/api/v1/users",
                              json={"email": "e2e@example.com", "name": "E"}).json()
            assert order(monolith, user["id"], 2).status_code == 201
            too_much = order(monolith, user["id"], 10)
            assert too_much.status_code == 409
            assert {k: too_much.json()[k] for k in ("code", "sku", "requested", "available")} \
                == {"code": "inventory.insufficient", "sku": "sku-1", "requested": 10,
                    "available": 5}

        # The service is stopped; the monolith keeps running and answers at once.
        down = [order(monolith, user["id"], 1) for _ in range(3)]
        assert [r.status_code for r in down] == [503, 503, 503]
        assert all(r.json()["code"] == "service.unavailable" for r in down)
        assert "cannot connect" in down[0].json()["detail"]
        assert down[-1].json()["breaker"] == "open"
        assert "circuit breaker 'inventory-service' is open" in down[-1].json()["detail"]
        unavailable = httpx.get(f"{monolith}/api/v1/inventory/stock/sku-1")
        assert unavailable.status_code == 503
        assert unavailable.json()["code"] == "service.unavailable"

        with start_service(folder, service_port, service_database):
            time.sleep(1.2)  # the breaker's wait (CARVE_INVENTORY_BREAKER_WAIT) runs out
            assert order(monolith, user["id"], 1).status_code == 201

    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        pending = connection.execute(
            text("SELECT count(*) FROM orders_outbox WHERE dispatched_at IS NULL")).scalar()
    engine.dispose()
    assert pending == 2  # both order.created events wait for the relay


def test_the_service_reserves_from_the_queue_into_its_own_database_and_answers_by_its_relay(
    tmp_path: Path, postgres_url: str, service_database: str,
    redis_prefix: tuple[redis.Redis, str],
) -> None:
    folder, plan = extract_inventory(tmp_path), write_queue_plan(tmp_path)
    service_port, monolith_port = free_port(), free_port()
    service, monolith = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{monolith_port}"
    # One broker namespace for the monolith's relay and both workers, this test's own.
    monolith_env = {**queue_env(plan, postgres_url, REDIS_URL, redis_prefix[1]),
                    "CARVE_INVENTORY_BINDING": "remote", "CARVE_INVENTORY_URL": service}
    service_env = {key: value for key, value in monolith_env.items()
                   if key.startswith("CARVE_BROKER_")}
    with (
        start_service(folder, service_port, service_database),
        # The service's worker: no carve.toml, no monolith; its database and the broker.
        carve_background(["run", "worker", "--path", str(folder)],
                         {**service_env, "DATABASE_URL": service_database},
                         tmp_path / "service-worker.log") as service_worker,
        # The service's relay: its answers from its own outbox to the monolith's worker.
        carve_background(["run", "relay", "--path", str(folder)],
                         {**service_env, "DATABASE_URL": service_database},
                         tmp_path / "service-relay.log") as service_relay,
        carve_process(["run", "monolith", "--port", str(monolith_port)], env=monolith_env,
                      ready_url=f"{monolith}/readyz"),
        carve_background(["run", "relay"], monolith_env, tmp_path / "relay.log") as relay,
        carve_background(["run", "worker"], monolith_env,
                         tmp_path / "monolith-worker.log") as monolith_worker,
    ):
        assert httpx.put(f"{service}/api/v1/inventory/stock/sku-1",
                         json={"quantity": 5}).status_code == 200
        user = httpx.post(f"{monolith}/api/v1/users",
                          json={"email": "queue@example.com", "name": "Q"}).json()
        placed = order(monolith, user["id"], 2)
        assert placed.status_code == 201, placed.text

        def stock() -> dict:
            return httpx.get(f"{service}/api/v1/inventory/stock/sku-1").json()

        def notes() -> list:
            return httpx.get(f"{monolith}/api/v1/notifications",
                             params={"user_id": user["id"]}).json()

        processes = (service_worker, service_relay, relay, monolith_worker)
        assert wait_for(lambda: stock()["reserved"] == 2 and len(notes()) == 1, timeout=30), \
            "\n".join(p.output() for p in processes)
        time.sleep(0.5)  # a duplicate delivery would show up by now
        assert stock() == {"sku": "sku-1", "on_hand": 5, "reserved": 2, "available": 3}
        assert [(n["reference"], n["kind"]) for n in notes()] == [
            (placed.json()["id"], "order_confirmation")]
        settled = httpx.get(f"{monolith}/api/v1/orders/{placed.json()['id']}").json()
        assert settled["status"] == "confirmed"
        assert "inventory." not in monolith_worker.output()  # the monolith runs none of it

    assert _counts(service_database, {
        "reservations": "SELECT count(*) FROM inventory_reservations",
        "dead": "SELECT count(*) FROM inventory_dead_letters",
        "applied": "SELECT count(*) FROM inventory_inbox",
        "unsent": "SELECT count(*) FROM inventory_outbox WHERE dispatched_at IS NULL",
    }) == {"reservations": 1, "dead": 0, "applied": 1, "unsent": 0}
    assert _counts(postgres_url, {
        "notifications": "SELECT count(*) FROM notifications_notifications",
        "pending": "SELECT count(*) FROM orders_outbox WHERE dispatched_at IS NULL",
        "inventory_tables": "SELECT count(*) FROM information_schema.tables "
                            "WHERE table_name LIKE 'inventory%'",
    }) == {"notifications": 1, "pending": 0, "inventory_tables": 0}


def test_the_race_with_inventory_extracted_to_its_own_database(
    tmp_path: Path, postgres_url: str, service_database: str,
    redis_prefix: tuple[redis.Redis, str],
) -> None:
    orders, quantity, stock = 24, 2, 10  # demand 48 units, room for 5 orders
    folder, plan = extract_inventory(tmp_path), write_queue_plan(tmp_path)
    service_port, monolith_port = free_port(), free_port()
    service, monolith = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{monolith_port}"
    monolith_env = {**queue_env(plan, postgres_url, REDIS_URL, redis_prefix[1]),
                    "CARVE_INVENTORY_BINDING": "remote", "CARVE_INVENTORY_URL": service}
    service_env = {**{key: value for key, value in monolith_env.items()
                      if key.startswith("CARVE_BROKER_")}, "DATABASE_URL": service_database}
    with (
        start_service(folder, service_port, service_database),
        carve_background(["run", "worker", "--path", str(folder)], service_env,
                         tmp_path / "service-worker.log") as service_worker,
        carve_background(["run", "relay", "--path", str(folder)], service_env,
                         tmp_path / "service-relay.log") as service_relay,
        carve_process(["run", "monolith", "--port", str(monolith_port)], env=monolith_env,
                      ready_url=f"{monolith}/readyz"),
        carve_background(["run", "relay"], monolith_env, tmp_path / "relay.log") as relay,
        carve_background(["run", "worker"], monolith_env, tmp_path / "worker.log") as worker,
    ):
        assert httpx.put(f"{service}/api/v1/inventory/stock/race-1",
                         json={"quantity": stock}).status_code == 200
        user = httpx.post(f"{monolith}/api/v1/users",
                          json={"email": "race@example.com", "name": "R"}).json()
        # Reads first: each module's sessions are set up by their first use, which is not
        # safe under concurrent first use (migration/runtime/routing.py).
        httpx.get(f"{monolith}/api/v1/orders", params={"user_id": user["id"]})
        httpx.get(f"{monolith}/api/v1/notifications", params={"user_id": user["id"]})
        answers = place_concurrently(monolith, user["id"], "race-1", quantity, orders)
        assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
        placed = [a.json()["id"] for a in answers if a.status_code == 201]

        def settled() -> bool:
            result = outcome(postgres_url, service_database, "race-1")
            return result.settled and len(result.statuses) == len(placed)

        processes = (service_worker, service_relay, relay, worker)
        assert wait_for(settled, timeout=60), "\n".join(p.output() for p in processes)
    result = outcome(postgres_url, service_database, "race-1")
    assert_race_outcome(result, placed, stock)
    confirmed = sum(status == "confirmed" for status in result.statuses.values())
    print(f"race with inventory extracted: {orders} orders, {orders - len(placed)} refused at "
          f"placement, {confirmed} confirmed, {len(placed) - confirmed} rejected, "
          f"{result.confirmed_units} of {stock} units confirmed and reserved")


def _counts(url: str, queries: dict[str, str]) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {name: connection.execute(text(sql)).scalar_one()
                    for name, sql in queries.items()}
    finally:
        engine.dispose()
