"""Building a monolith for a test: its own database, migrated, with optional fakes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from contracts.contract import Contract
from migration.runtime.settings import Settings
from monolith.app import create_app


def settings_for(database_url: str, **env: str) -> Settings:
    """Settings with every module on ``database_url`` and the repository's carve.toml."""
    environ = {"DATABASE_URL": database_url, "CARVE_RETRY_INTERVAL": "0.2", **env}
    return Settings.from_env(environ=environ)


@contextmanager
def monolith_client(
    database_url: str,
    bindings: Mapping[str, Contract] | None = None,
    adapters: Mapping[str, Any] | None = None,
    **env: str,
) -> Iterator[TestClient]:
    """A migrated monolith on ``database_url`` behind a test client."""
    settings = settings_for(database_url, **env)
    settings.project.upgrade()
    app = create_app(settings, bindings, adapters)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def place_order_flow(client: TestClient, quantity: int = 2, stock: int = 5) -> dict[str, Any]:
    """Register a user, stock a SKU, place one order; returns ids and the order body."""
    user = client.post("/api/v1/users", json={"email": "ann@example.com", "name": "Ann"})
    assert user.status_code == 201, user.text
    assert client.put("/api/v1/inventory/stock/SKU-1", json={"quantity": stock}).status_code == 200
    order = client.post(
        "/api/v1/orders",
        json={"user_id": user.json()["id"], "items": [{"sku": "SKU-1", "quantity": quantity}]},
    )
    return {"user_id": user.json()["id"], "response": order}
