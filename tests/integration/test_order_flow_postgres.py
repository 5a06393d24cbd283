"""The createOrder flow over HTTP on real PostgreSQL, every module in one database."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.builders import monolith_client, place_order_flow


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def test_an_order_is_placed_with_the_users_email(postgres_url: str) -> None:
    with monolith_client(postgres_url) as client:
        flow = place_order_flow(client)
        order = flow["response"]
        assert order.status_code == 201, order.text
        assert order.json()["user_email"] == "ann@example.com"
        assert order.json()["status"] == "pending"
        # Inventory reserved it in process before the answer went out: confirmed since.
        again = client.get(f"/api/v1/orders/{order.json()['id']}")
        assert again.json() == {**order.json(), "status": "confirmed"}
        listed = client.get("/api/v1/orders", params={"user_id": flow["user_id"]})
        assert [o["id"] for o in listed.json()] == [order.json()["id"]]


def test_a_confirmed_order_gives_one_notification_and_one_reservation(postgres_url: str) -> None:
    with monolith_client(postgres_url) as client:
        flow = place_order_flow(client, quantity=2, stock=5)
        assert flow["response"].status_code == 201
        notes = client.get("/api/v1/notifications", params={"user_id": flow["user_id"]}).json()
        assert [n["kind"] for n in notes] == ["order_confirmation"]
        assert notes[0]["reference"] == flow["response"].json()["id"]
        stock = client.get("/api/v1/inventory/stock/SKU-1").json()
        assert (stock["reserved"], stock["available"]) == (2, 3)
    assert _count(postgres_url, "orders_outbox WHERE dispatched_at IS NULL") == 0


def test_insufficient_stock_is_409_and_writes_nothing(postgres_url: str) -> None:
    with monolith_client(postgres_url) as client:
        flow = place_order_flow(client, quantity=9, stock=5)
        response = flow["response"]
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "inventory.insufficient"
        assert (body["requested"], body["available"]) == (9, 5)
        assert response.headers["content-type"] == "application/problem+json"
    assert _count(postgres_url, "orders_orders") == 0
    assert _count(postgres_url, "orders_outbox") == 0


def test_unknown_user_is_404(postgres_url: str) -> None:
    with monolith_client(postgres_url) as client:
        client.put("/api/v1/inventory/stock/SKU-1", json={"quantity": 1})
        response = client.post(
            "/api/v1/orders", json={"user_id": "ghost", "items": [{"sku": "SKU-1", "quantity": 1}]}
        )
        assert (response.status_code, response.json()["code"]) == (404, "user.not_found")
    assert _count(postgres_url, "orders_orders") == 0


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/api/v1/orders", {"user_id": "u", "items": [{"sku": "A", "quantity": 0}]}, "quantity"),
        ("/api/v1/orders", {"user_id": "u", "items": [{"sku": "A", "quantity": "two"}]},
         "quantity"),
        ("/api/v1/orders", {"user_id": "u", "items": []}, "items"),
        ("/api/v1/users", {"email": "not-an-email", "name": "X"}, "email"),
        ("/api/v1/users", {"email": "a@example.com"}, "name"),
    ],
)
def test_bad_bodies_are_422_problems_naming_the_field(
    postgres_url: str, path: str, body: dict, where: str
) -> None:
    with monolith_client(postgres_url) as client:
        response = client.post(path, json=body)
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "request.invalid"
        assert where in problem["detail"]
    assert _count(postgres_url, "orders_orders") + _count(postgres_url, "users_users") == 0


def test_malformed_json_negative_stock_and_bad_quantities_are_rejected(postgres_url: str) -> None:
    with monolith_client(postgres_url) as client:
        broken = client.post("/api/v1/orders", content=b'{"user_id": ',
                             headers={"content-type": "application/json"})
        assert (broken.status_code, broken.json()["code"]) == (422, "request.invalid")
        negative = client.put("/api/v1/inventory/stock/A", json={"quantity": -1})
        assert negative.status_code == 422
        assert client.get("/api/v1/inventory/stock/A").status_code == 404
        client.put("/api/v1/inventory/stock/A", json={"quantity": 1})
        # The contract bounds the quantity (1 or more): refused before the service sees it.
        zero = client.get("/api/v1/inventory/availability/A", params={"quantity": 0})
        assert (zero.status_code, zero.json()["code"]) == (422, "request.invalid")
        assert "quantity" in zero.json()["detail"]
        unknown = client.get("/api/v1/inventory/availability/B")
        assert (unknown.status_code, unknown.json()["code"]) == (404, "inventory.sku_not_found")


def test_a_duplicate_email_is_409(postgres_url: str) -> None:
    with monolith_client(postgres_url) as client:
        first = client.post("/api/v1/users", json={"email": "a@x.io", "name": "A"})
        assert first.status_code == 201
        again = client.post("/api/v1/users", json={"email": "A@x.io", "name": "B"})
        assert (again.status_code, again.json()["code"]) == (409, "user.email_taken")
    assert _count(postgres_url, "users_users") == 1


def test_health_readiness_and_openapi(postgres_url: str) -> None:
    with monolith_client(postgres_url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["modules"] == dict.fromkeys(["inventory", "notifications", "orders", "users"],
                                                 "ok")
        ids = {op["operationId"] for path in client.get("/openapi.json").json()["paths"].values()
               for op in path.values()}
        assert {"orders.place_order", "inventory.check_availability", "users.get_user"} <= ids


def test_quantities_beyond_what_the_database_stores_are_422_not_500(postgres_url: str) -> None:
    huge = 2**31
    with monolith_client(postgres_url) as client:
        stock = client.put("/api/v1/inventory/stock/A", json={"quantity": huge})
        assert (stock.status_code, stock.json()["code"]) == (422, "request.invalid")
        order = client.post("/api/v1/orders",
                            json={"user_id": "u", "items": [{"sku": "A", "quantity": huge}]})
        assert order.status_code == 422
    assert _count(postgres_url, "inventory_stock") == 0


def test_two_first_writes_of_a_new_sku_at_once_both_succeed(postgres_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with monolith_client(postgres_url) as client:
        def put(quantity: int) -> int:
            body = {"quantity": quantity}
            return client.put("/api/v1/inventory/stock/NEW", json=body).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(put, range(1, 17)))
        assert codes == [200] * 16
        assert client.get("/api/v1/inventory/stock/NEW").json()["on_hand"] in range(1, 17)
