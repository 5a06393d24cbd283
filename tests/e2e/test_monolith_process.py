"""The monolith as a user runs it: ``carve run monolith`` in its own process, over HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.processes import carve_process, free_port


def test_the_create_order_flow_over_http(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}"}
    with carve_process(["run", "monolith", "--port", str(port)], env=env,
                       ready_url=f"{base}/readyz"):
        with httpx.Client(base_url=base, timeout=10) as http:
            user = http.post("/api/v1/users", json={"email": "bo@example.com", "name": "Bo"})
            assert user.status_code == 201
            user_id = user.json()["id"]
            assert http.put("/api/v1/inventory/stock/MUG", json={"quantity": 3}).status_code == 200
            availability = http.get("/api/v1/inventory/availability/MUG", params={"quantity": 2})
            assert availability.json() == {"sku": "MUG", "requested": 2, "available": 3,
                                           "in_stock": True}

            placed = http.post("/api/v1/orders",
                               json={"user_id": user_id, "items": [{"sku": "MUG", "quantity": 2}]})
            assert placed.status_code == 201
            assert placed.json()["user_email"] == "bo@example.com"

            unknown = http.post("/api/v1/orders",
                                json={"user_id": "ghost", "items": [{"sku": "MUG", "quantity": 1}]})
            assert (unknown.status_code, unknown.json()["code"]) == (404, "user.not_found")

            lines = [{"sku": "MUG", "quantity": 5}]
            too_many = http.post("/api/v1/orders", json={"user_id": user_id, "items": lines})
            assert too_many.status_code == 409
            assert too_many.json()["code"] == "inventory.insufficient"

            invalid = http.post("/api/v1/orders", json={"user_id": user_id, "items": "MUG"})
            assert (invalid.status_code, invalid.json()["code"]) == (422, "request.invalid")

            orders = http.get("/api/v1/orders", params={"user_id": user_id}).json()
            assert [o["id"] for o in orders] == [placed.json()["id"]]
            notes = http.get("/api/v1/notifications", params={"user_id": user_id}).json()
            assert [n["reference"] for n in notes] == [placed.json()["id"]]
            stock = http.get("/api/v1/inventory/stock/MUG").json()
            assert (stock["reserved"], stock["available"]) == (2, 1)
