"""Orders moves out: the events the service publishes reach the monolith's subscribers.

The orders service writes order.created to the outbox in its own database;
`carve run relay --path` moves it to the broker, and the monolith's worker
reserves the stock; inventory's answer comes back to the service's worker through the
monolith's relay, and order.confirmed goes out by the service's relay to notifications.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.events import carve_background, queue_env, wait_for
from tests.support.processes import ROOT, carve_process, free_port
from tests.support.saga import write_queue_plan
from tests.support.services import REDIS_URL, fresh_postgres_database, scalar


@pytest.fixture
def service_database() -> Iterator[str]:
    """The orders service's own PostgreSQL database."""
    with fresh_postgres_database() as url:
        yield url


def test_the_relay_of_an_extracted_service_delivers_what_it_publishes(
    tmp_path: Path, postgres_url: str, service_database: str,
    redis_prefix: tuple[redis.Redis, str],
) -> None:
    extracted = subprocess.run(
        [sys.executable, "-m", "migration.cli", "extract", "orders", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "300"})
    assert extracted.returncode == 0, extracted.stderr
    folder = tmp_path / "orders-service"
    assert f"carve run relay --path {folder}" in extracted.stdout

    service_port, monolith_port = free_port(), free_port()
    service, monolith = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{monolith_port}"
    monolith_env = {**queue_env(write_queue_plan(tmp_path), postgres_url,
                                REDIS_URL, redis_prefix[1]),
                    "CARVE_ORDERS_BINDING": "remote", "CARVE_ORDERS_URL": service}
    broker_env = {k: v for k, v in monolith_env.items() if k.startswith("CARVE_BROKER_")}
    service_env = {"DATABASE_URL": service_database, "CARVE_USERS_URL": monolith,
                   "CARVE_INVENTORY_URL": monolith}
    with (
        carve_process(["run", "monolith", "--port", str(monolith_port)], env=monolith_env,
                      ready_url=f"{monolith}/readyz"),
        carve_process(["run", "service", "orders", "--path", str(folder), "--port",
                       str(service_port)], env=service_env, cwd=folder,
                      ready_url=f"{service}/readyz"),
        # The service's relay: its database and the broker, no carve.toml, no monolith.
        carve_background(["run", "relay", "--path", str(folder)],
                         {**broker_env, **service_env}, tmp_path / "relay.log") as relay,
        carve_background(["run", "worker"], monolith_env, tmp_path / "worker.log") as worker,
        # The other way: inventory's answers to the service's worker, by the monolith's relay.
        carve_background(["run", "relay"], monolith_env, tmp_path / "monolith-relay.log"),
        carve_background(["run", "worker", "--path", str(folder)], {**broker_env, **service_env},
                         tmp_path / "service-worker.log") as service_worker,
    ):
        assert httpx.put(f"{monolith}/api/v1/inventory/stock/sku-1",
                         json={"quantity": 5}).status_code == 200
        user = httpx.post(f"{monolith}/api/v1/users",
                          json={"email": "relay@example.com", "name": "R"}).json()
        body = {"user_id": user["id"], "items": [{"sku": "sku-1", "quantity": 2}]}
        placed = httpx.post(f"{service}/api/v1/orders", json=body, timeout=15)
        assert placed.status_code == 201, placed.text

        def stock() -> dict:
            return httpx.get(f"{monolith}/api/v1/inventory/stock/sku-1").json()

        def notes() -> list:
            return httpx.get(f"{monolith}/api/v1/notifications",
                             params={"user_id": user["id"]}).json()

        assert wait_for(lambda: stock()["reserved"] == 2 and len(notes()) == 1, timeout=30), \
            relay.output() + worker.output() + service_worker.output()
        time.sleep(0.5)  # a duplicate delivery would show up by now
        assert stock()["reserved"] == 2
        assert [n["reference"] for n in notes()] == [placed.json()["id"]]
        order = httpx.get(f"{service}/api/v1/orders/{placed.json()['id']}").json()
        assert order["status"] == "confirmed"

    assert scalar(service_database,
                  "SELECT count(*) FROM orders_outbox WHERE dispatched_at IS NULL") == 0
    assert scalar(postgres_url, "SELECT count(*) FROM information_schema.tables "
                                "WHERE table_name LIKE 'orders%'") == 0


def test_relaying_a_service_that_publishes_nothing_is_one_line(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "migration.cli", "extract", "users", "--out",
                    str(tmp_path)], cwd=ROOT, check=True, capture_output=True, timeout=120)
    folder = tmp_path / "users-service"
    done = subprocess.run(
        [sys.executable, "-m", "migration.cli", "run", "relay", "--path", str(folder)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: the users service in {folder} publishes no events: it has no outbox to relay"]


