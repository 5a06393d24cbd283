"""A module bound remote: called through the client binding, never run by the monolith."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from migration.runtime.errors import ConfigError
from migration.runtime.serving import ServerThread
from migration.runtime.settings import Settings
from migration.runtime.tracing import parse_traceparent
from monolith.app import create_app
from tests.fakes import RecordingTraces
from tests.support.processes import ROOT, carve_process

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def write_plan(folder: Path, transport: str) -> Path:
    """A carve.toml for the reference monolith with order.created on ``transport``."""
    path = folder / "carve.toml"
    path.write_text(
        f'[project]\nsource = "{ROOT.as_posix()}"\n\n'
        f'[events."order.created"]\ntransport = "{transport}"\n', encoding="utf-8")
    return path


@pytest.fixture
def inventory_service(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[str, RecordingTraces]]:
    """Inventory served over HTTP by its own process-local app and database."""
    settings = Settings.from_env(write_plan(tmp_path, "queue"), {"DATABASE_URL": sqlite_url})
    settings.project.upgrade(["inventory"])
    app = RecordingTraces(create_app(settings))
    with ServerThread(app) as server:
        httpx.put(f"{server.url}/api/v1/inventory/stock/sku-1", json={"quantity": 2})
        yield server.url, app


def monolith_settings(tmp_path: Path, postgres_url: str, url: str, transport: str) -> Settings:
    folder = tmp_path / "monolith"
    folder.mkdir()
    environ = {"DATABASE_URL": postgres_url, "CARVE_INVENTORY_BINDING": "remote",
               "CARVE_INVENTORY_URL": url}
    return Settings.from_env(write_plan(folder, transport), environ)


def test_the_monolith_calls_a_remote_module_and_serves_its_api_through_it(
    tmp_path: Path, postgres_url: str, inventory_service: tuple[str, RecordingTraces]
) -> None:
    url, traces = inventory_service
    settings = monolith_settings(tmp_path, postgres_url, url, "queue")
    settings.project.upgrade(["users", "orders", "notifications"])
    with TestClient(create_app(settings)) as monolith:
        # Its API is still served here, from the service's data (ADR 0007).
        stock = monolith.get("/api/v1/inventory/stock/sku-1")
        assert stock.status_code == 200 and stock.json()["on_hand"] == 2
        assert "inventory" not in monolith.get("/readyz").json()["modules"]
        user = monolith.post("/api/v1/users", json={"email": "a@example.com", "name": "A"}).json()
        order = {"user_id": user["id"], "items": [{"sku": "sku-1", "quantity": 2}]}
        placed = monolith.post("/api/v1/orders", json=order, headers={"traceparent": TRACE})
        assert placed.status_code == 201
        order["items"][0]["quantity"] = 3
        refused = monolith.post("/api/v1/orders", json=order)
    assert refused.status_code == 409
    assert refused.json()["code"] == "inventory.insufficient"
    assert refused.json()["available"] == 2
    assert parse_traceparent(traces.seen[-2])[0] == TRACE.split("-")[1]
    tables = inspect(settings.project.database("orders").engine).get_table_names()
    assert not [t for t in tables if t.startswith("inventory_")]


def test_bootstrap_refuses_a_remote_module_whose_events_stay_in_process(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = monolith_settings(tmp_path, postgres_url, "http://127.0.0.1:9", "inprocess")
    with pytest.raises(ConfigError, match="'inventory' is remote but consumes 'order.created'"):
        create_app(settings)


def test_carve_run_monolith_refuses_with_the_reason(tmp_path: Path, postgres_url: str) -> None:
    plan = write_plan(tmp_path, "inprocess")
    env = {"DATABASE_URL": postgres_url, "CARVE_INVENTORY_BINDING": "remote"}
    with carve_process(["run", "monolith", "--config", str(plan), "--port", "9"],
                       env=env) as process:
        output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 2
    assert "transport = \"queue\"" in output
    assert "Traceback" not in output
