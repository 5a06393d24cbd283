"""The server binding: answers are validated against the contract before they leave."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Header
from fastapi import routing as fastapi_routing
from fastapi.testclient import TestClient

from contracts.inventory import Inventory, SkuNotFound
from contracts.users import Users
from migration.runtime import server
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


# The plain-parameter path of OperationRoute against FastAPI's own handler.

AVAILABLE = {"sku": "a", "requested": 1, "available": 3, "in_stock": True}
QUERIES = [
    "/api/v1/inventory/availability/a",
    "/api/v1/inventory/availability/a?quantity=2",
    "/api/v1/inventory/availability/a?quantity=%202%20",
    "/api/v1/inventory/availability/a?quantity=1&quantity=7",
    "/api/v1/inventory/availability/a?quantity=",
    "/api/v1/inventory/availability/a?quantity=0",
    "/api/v1/inventory/availability/a?quantity=x",
    "/api/v1/inventory/availability/a?quantity=2.0",
    "/api/v1/inventory/availability/a?quantity=99999999999",
    "/api/v1/inventory/availability/a?other=1",
    "/api/v1/inventory/availability/%F0%9F%93%A6",
    "/api/v1/inventory/availability/" + "x" * 65,
    "/api/v1/inventory/availability/a%0Ab",
    "/api/v1/inventory/availability/a%FFb",
    "/api/v1/inventory/stock/a",
    "/api/v1/inventory/stock/a%20b?quantity=x",
]


class Recorded(Answers):
    """Answers, and records the arguments of each call."""

    def __init__(self, answer: Any) -> None:
        super().__init__(answer)
        self.calls: list[tuple[Any, ...]] = []

    def check_availability(self, sku: str, quantity: int) -> Any:
        self.calls.append(("check_availability", sku, quantity, type(quantity)))
        return super().check_availability(sku, quantity)

    def get_stock(self, sku: str) -> Any:
        self.calls.append(("get_stock", sku))
        return {"sku": sku, "on_hand": 3, "reserved": 0, "available": 3}


def test_plain_parameters_give_what_fastapi_gives_answers_errors_and_arguments(
        monkeypatch: pytest.MonkeyPatch) -> None:
    solved = solving_counted(monkeypatch)
    fast, slow = Recorded(AVAILABLE), Recorded(AVAILABLE)
    with serve(fast) as http:
        fast_answers = [http.get(q) for q in QUERIES]
    invalid = sum(a.status_code == 422 for a in fast_answers)
    assert len(solved) == invalid > 0  # only the invalid ones went on to FastAPI's handler
    monkeypatch.setattr(server, "_plain_fields", lambda dependant: None)  # FastAPI's handler
    with serve(slow) as http:
        slow_answers = [http.get(q) for q in QUERIES]
    assert len(solved) == invalid + len(QUERIES)
    for query, mine, theirs in zip(QUERIES, fast_answers, slow_answers, strict=True):
        assert (mine.status_code, mine.headers["content-type"], mine.json()) == (
            theirs.status_code, theirs.headers["content-type"], theirs.json()), query
    assert fast.calls == slow.calls
    assert {a.status_code for a in fast_answers} == {200, 422}


def solving_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests FastAPI's dependency solver handles from now on.

    FastAPI's own telemetry is taken as off, as it is in a process without an
    OpenTelemetry SDK: another test may have installed one for the whole process (it
    cannot be taken back), and while telemetry watches, FastAPI's handler serves every
    request (that way is tested below).
    """
    monkeypatch.setattr(server, "get_telemetry_data", lambda: None)
    solved: list[str] = []
    solve = fastapi_routing.solve_dependencies

    async def solving(**kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await solve(**kwargs)

    monkeypatch.setattr(fastapi_routing, "solve_dependencies", solving)
    return solved


def test_only_operations_of_plain_path_and_query_values_take_the_shorter_way(
        monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[str] = []
    plain_handler = server._plain_handler

    def recording(full: Any, call: Any, fields: Any) -> Any:
        taken.append(call.__name__)
        return plain_handler(full, call, fields)

    monkeypatch.setattr(server, "_plain_handler", recording)
    server.router_for(Inventory, lambda: Answers(None))
    server.router_for(Users, lambda: Answers(None))
    assert sorted(set(taken)) == ["check_availability", "get_stock", "get_user"]


@pytest.mark.parametrize("where", ["app", "include"])
def test_dependencies_of_the_app_or_the_inclusion_still_run(where: str) -> None:
    seen: list[str] = []

    def dependency(x_caller: Annotated[str, Header()] = "nobody") -> None:
        seen.append(x_caller)

    app = FastAPI(dependencies=[Depends(dependency)] if where == "app" else None)
    install_problem_handlers(app)
    app.include_router(router_for(Inventory, lambda: Answers(AVAILABLE)),
                       dependencies=[Depends(dependency)] if where == "include" else None)
    with TestClient(app) as http:
        assert http.get("/api/v1/inventory/availability/a",
                        headers={"x-caller": "me"}).status_code == 200
    assert seen == ["me"]


def test_while_fastapi_telemetry_observes_a_request_its_own_handler_serves_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    solved = solving_counted(monkeypatch)
    implementation = Recorded(AVAILABLE)
    with serve(implementation) as http:
        assert http.get("/api/v1/inventory/availability/a").status_code == 200
        assert solved == []  # the shorter way
        monkeypatch.setattr(server, "get_telemetry_data", lambda: object())
        response = http.get("/api/v1/inventory/availability/b?quantity=2")
    assert response.status_code == 200
    assert solved == ["/api/v1/inventory/availability/b"]
    assert implementation.calls[-1] == ("check_availability", "b", 2, int)
