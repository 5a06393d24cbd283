"""Inventory moves out: the monolith calls the extracted service and survives its outage.

order.created is on the queue in this plan, so the monolith starts with inventory
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
from sqlalchemy import create_engine, text

from tests.support.processes import ROOT, carve_process, free_port
from tests.support.services import fresh_postgres_database


@pytest.fixture
def service_database() -> Iterator[str]:
    """The inventory service's own PostgreSQL database."""
    with fresh_postgres_database() as url:
        yield url


def start_service(folder: Path, port: int, database: str) -> AbstractContextManager:
    return carve_process(
        ["run", "service", "inventory", "--path", str(folder), "--port", str(port)],
        env={"DATABASE_URL": database}, cwd=folder,
        ready_url=f"http://127.0.0.1:{port}/readyz")


def order(monolith: str, user_id: str, quantity: int) -> httpx.Response:
    body = {"user_id": user_id, "items": [{"sku": "sku-1", "quantity": quantity}]}
    return httpx.post(f"{monolith}/api/v1/orders", json=body, timeout=15)


def test_the_monolith_orders_through_the_inventory_service(
    tmp_path: Path, postgres_url: str, service_database: str
) -> None:
    subprocess.run([sys.executable, "-m", "migration.cli", "extract", "inventory", "--out",
                    str(tmp_path)], cwd=ROOT, check=True, capture_output=True, timeout=120)
    folder = tmp_path / "inventory-service"
    plan = tmp_path / "carve.toml"
    plan.write_text(f'[project]\nsource = "{ROOT.as_posix()}"\n\n'
                    '[events."order.created"]\ntransport = "queue"\n', encoding="utf-8")
    service_port, monolith_port = free_port(), free_port()
    service, monolith = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{monolith_port}"
    env = {"DATABASE_URL": postgres_url, "CARVE_INVENTORY_BINDING": "remote",
           "CARVE_INVENTORY_URL": service, "CARVE_INVENTORY_BREAKER_WAIT": "1"}
    with carve_process(["run", "monolith", "--config", str(plan), "--port", str(monolith_port)],
                       env=env, ready_url=f"{monolith}/readyz"):
        with start_service(folder, service_port, service_database):
            assert httpx.put(f"{service}/api/v1/inventory/stock/sku-1",
                             json={"quantity": 5}).status_code == 200
            assert httpx.get(f"{monolith}/api/v1/inventory/stock/sku-1").status_code == 404
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

        with start_service(folder, service_port, service_database):
            time.sleep(1.2)  # the breaker's wait (CARVE_INVENTORY_BREAKER_WAIT) runs out
            assert order(monolith, user["id"], 1).status_code == 201

    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        pending = connection.execute(
            text("SELECT count(*) FROM orders_outbox WHERE dispatched_at IS NULL")).scalar()
    engine.dispose()
    assert pending == 2  # both order.created events wait for the relay
