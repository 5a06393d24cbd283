"""The HTTP API fuzzed from its OpenAPI, which the contracts generate: the monolith and the
extracted inventory service, each on its own PostgreSQL database.

schemathesis generates valid and invalid requests (types, bounds, lengths, patterns,
missing and extra fields) for every operation. Two checks must hold for every one: the
answer is never a server error, and a request that violates the schema is never
accepted (a 4xx, not a 2xx). The number of cases is bounded so each API takes seconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection

from contracts.inventory import MAX_QUANTITY, StockLevel
from contracts.users import NewUser
from migration.extraction.running import service_worker_root
from migration.runtime.service import create_service_app
from monolith.app import create_app
from tests.builders import settings_for
from tests.support.processes import ROOT
from tests.support.services import fresh_postgres_database

#: Cases per operation and generation mode (valid, invalid): a few hundred per API, the
#: same ones every run (derandomized); CARVE_FUZZ_CASES=500 searches deeper, by hand.
CASES = int(os.environ.get("CARVE_FUZZ_CASES", "25"))
CHECKS = [not_a_server_error, negative_data_rejection]
STOCKED = "fuzz-sku"
FUZZ = settings(max_examples=CASES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def monolith_api() -> Iterator[schemathesis.schemas.BaseSchema]:
    with fresh_postgres_database() as url:
        plan = settings_for(url, CARVE_RETRY_INTERVAL="3600")
        plan.project.upgrade()
        app = create_app(plan)
        services = app.state.system.services
        # A customer and a stocked SKU, so valid orders can get past 404 into the saga.
        customer = services["users"].register_user(NewUser(email="fuzz@example.com",
                                                           name="Fuzz"))
        services["inventory"].set_stock(STOCKED, StockLevel(quantity=MAX_QUANTITY))
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        schema.steer = {"POST /api/v1/orders": customer.id}  # type: ignore[attr-defined]
        schema.customer_orders = (  # type: ignore[attr-defined]
            lambda: services["orders"].list_orders(customer.id))
        yield schema
        app.state.system.close()


@pytest.fixture(scope="module")
def inventory_service_api() -> Iterator[schemathesis.schemas.BaseSchema]:
    service = service_worker_root(ROOT / "extracted" / "inventory-service")
    with fresh_postgres_database() as url:
        service.migrate({"DATABASE_URL": url})
        runtime = service.runtime({"DATABASE_URL": url})
        yield schemathesis.openapi.from_asgi("/openapi.json", create_service_app(runtime))
        runtime.close()


def _steered(case, customer: str, steer: bool):  # type: ignore[no-untyped-def]
    """Half the valid orders are the known customer's, of the stocked SKU."""
    if steer and isinstance(case.body, dict):
        case.body = {**case.body, "user_id": customer,
                     "items": [{**item, "sku": STOCKED} for item in case.body["items"]]}
    return case


def fuzz(schema: schemathesis.schemas.BaseSchema) -> int:
    """Run every operation's valid and invalid cases through both checks; how many ran.

    A failing case fails the test with the request that reproduces it (shrunk).
    """
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        # An operation without inputs (/healthz) has nothing to make invalid.
        has_inputs = any(True for _ in operation.iter_parameters()) or len(operation.body) > 0
        modes = [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * has_inputs
        for mode in modes:
            cases = operation.as_strategy(generation_mode=mode)
            customer = getattr(schema, "steer", {}).get(operation.label)
            if customer and mode is GenerationMode.POSITIVE:
                cases = st.tuples(cases, st.booleans()).map(
                    lambda pair, who=customer: _steered(pair[0], who, pair[1]))

            @FUZZ
            @given(cases)
            def run(case) -> None:  # type: ignore[no-untyped-def]
                nonlocal count
                count += 1
                case.call_and_validate(checks=CHECKS)

            run()
    return count


def test_the_monolith_never_fails_and_never_accepts_what_its_schema_refuses(
    monolith_api: schemathesis.schemas.BaseSchema,
) -> None:
    cases = fuzz(monolith_api)
    settled = {order.status for order in monolith_api.customer_orders()}
    print(f"monolith: {cases} generated cases; the customer's orders ended {settled}")
    assert cases >= CASES
    assert "confirmed" in settled  # valid orders reached the saga, not only 404s


def test_the_inventory_service_never_fails_and_never_accepts_what_its_schema_refuses(
    inventory_service_api: schemathesis.schemas.BaseSchema,
) -> None:
    cases = fuzz(inventory_service_api)
    print(f"inventory service: {cases} generated cases")
    assert cases >= CASES
