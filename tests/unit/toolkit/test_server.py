"""The server binding: answers are validated against the contract before they leave."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from contracts.inventory import Inventory, SkuNotFound
from contracts.users import Users
from migration.runtime.logs import RequestIdMiddleware, _request_id
from migration.runtime.problems import install_problem_handlers
from migration.runtime.server import router_for


class Answers:
    """An implementation of Inventory and Users answering whatever it is given."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.request_ids: list[str | None] = []

    def check_availability(self, sku: str, quantity: int) -> Any:
        self.request_ids.append(_request_id.get())
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def register_user(self, registration: Any) -> Any:
        return self.answer


def serve(implementation: Answers, contract: type = Inventory) -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router_for(contract, lambda: implementation))
    app.add_middleware(RequestIdMiddleware)
    return TestClient(app, raise_server_exceptions=False)


def test_an_answer_is_parsed_into_the_declared_type_and_nothing_else_leaves() -> None:
    answer = {"sku": "a", "requested": "2", "available": 3, "in_stock": True, "secret": "x"}
    with serve(Answers(answer)) as http:
        response = http.get("/api/v1/inventory/availability/a", params={"quantity": 2})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"sku": "a", "requested": 2, "available": 3, "in_stock": True}


def test_an_answer_that_breaks_the_contract_is_a_500_problem_not_a_wrong_body() -> None:
    with serve(Answers({"sku": "a", "requested": 2})) as http:
        response = http.get("/api/v1/inventory/availability/a")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "server.error"
    assert "ResponseValidationError" in body["detail"]


def test_a_contract_error_is_its_problem_body() -> None:
    with serve(Answers(SkuNotFound("no sku 'a'", sku="a"))) as http:
        response = http.get("/api/v1/inventory/availability/a")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "inventory.sku_not_found"
    assert response.json()["sku"] == "a"


def test_the_operation_status_code_is_kept() -> None:
    user = {"id": "u-1", "email": "a@example.com", "name": "A"}
    implementation = Answers(user)
    with serve(implementation, Users) as http:
        response = http.post("/api/v1/users", json={"email": "a@example.com", "name": "A"})
    assert response.status_code == 201, response.text
    assert response.json()["id"] == "u-1"


def test_the_implementation_runs_in_the_request_context() -> None:
    implementation = Answers({"sku": "a", "requested": 1, "available": 3, "in_stock": True})
    with serve(implementation) as http:
        response = http.get("/api/v1/inventory/availability/a", headers={"x-request-id": "r-1"})
    assert response.headers["x-request-id"] == "r-1"
    assert implementation.request_ids == ["r-1"]


def test_the_openapi_document_still_declares_each_answer() -> None:
    with serve(Answers(None)) as http:
        schema = http.get("/openapi.json").json()
    answer = schema["paths"]["/api/v1/inventory/availability/{sku}"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Availability"}
