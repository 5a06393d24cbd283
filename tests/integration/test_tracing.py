"""One createOrder is one trace: the monolith's request, its call to the inventory service
over HTTP, the service's answer, the relay that moves order.created from the outbox to the
queue, and the service's worker that reserves the stock; each span the child of the one
that caused it. Spans are collected with the OpenTelemetry SDK's in-memory exporter.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from migration.events.processes import broker_for, build_relay, build_service_worker
from migration.runtime.broker import close_broker
from migration.runtime.service import (
    ServiceRuntime,
    ServiceSettings,
    ServiceWorker,
    create_service_app,
)
from migration.runtime.serving import ServerThread
from migration.runtime.settings import Settings
from monolith.app import create_app
from tests.support.events import wait_for
from tests.support.processes import ROOT
from tests.support.services import REDIS_URL, fresh_postgres_database


@pytest.fixture
def service_database() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


def test_one_order_is_one_trace_from_the_request_to_the_worker(
    tmp_path: Path, postgres_url: str, service_database: str,
    redis_prefix: tuple[redis.Redis, str], spans: InMemorySpanExporter,
) -> None:
    from monolith.modules.inventory import module as inventory

    broker_env = {"CARVE_BROKER_URL": REDIS_URL, "CARVE_BROKER_NAMESPACE": redis_prefix[1]}
    runtime = ServiceRuntime(inventory, ServiceSettings.from_env(
        "inventory", {"DATABASE_URL": service_database, **broker_env}))
    runtime.migrate()
    plan = tmp_path / "carve.toml"
    plan.write_text(f'[project]\nsource = "{ROOT.as_posix()}"\n\n'
                    '[events."order.created"]\ntransport = "queue"\n')
    with ServerThread(create_service_app(runtime)) as service:
        settings = Settings.from_env(plan, {
            "DATABASE_URL": postgres_url, "CARVE_INVENTORY_BINDING": "remote",
            "CARVE_INVENTORY_URL": service.url, **broker_env})
        settings.project.upgrade([n for n in settings.project.specs if n != "inventory"])
        with TestClient(create_app(settings)) as monolith:
            user = monolith.post("/api/v1/users", json={"email": "t@example.com", "name": "T"})
            monolith.put("/api/v1/inventory/stock/MUG", json={"quantity": 5})
            spans.clear()
            body = {"user_id": user.json()["id"], "items": [{"sku": "MUG", "quantity": 2}]}
            assert monolith.post("/api/v1/orders", json=body).status_code == 201
        _relay_then_work(settings, runtime, service.url)
    _assert_one_trace(spans.get_finished_spans())


def _relay_then_work(settings: Settings, runtime: ServiceRuntime, service_url: str) -> None:
    broker, _ = broker_for(settings.project)
    try:
        assert build_relay(settings.project, broker).drain() == 1
    finally:
        close_broker(broker)
        settings.project.close()
    process = build_service_worker(ServiceWorker.of(runtime), None,
                                   dict(runtime.settings.environ), threads=1)
    process.worker.start()
    try:
        reserved = lambda: runtime.service.get_stock("MUG").reserved == 2  # noqa: E731
        assert wait_for(reserved, timeout=20)
    finally:
        process.worker.stop()
        process.close()


def _assert_one_trace(finished: tuple[ReadableSpan, ...]) -> None:
    def one(kind: SpanKind, name: str) -> ReadableSpan:
        found = [s for s in finished if s.kind == kind and s.name.startswith(name)]
        assert len(found) == 1, (name, [(s.name, s.kind) for s in finished])
        return found[0]

    request = one(SpanKind.SERVER, "POST /api/v1/orders")
    call = one(SpanKind.CLIENT, "inventory.check_availability")
    answer = one(SpanKind.SERVER, "GET /api/v1/inventory/availability")
    relayed = one(SpanKind.PRODUCER, "relay order.created")
    consumed = one(SpanKind.CONSUMER, "consume order.created")
    assert request.parent is None  # the order started the trace
    for child, parent in ((call, request), (answer, call), (relayed, request),
                          (consumed, relayed)):
        assert child.parent is not None and child.parent.span_id == parent.context.span_id, \
            (child.name, parent.name)
    assert {s.context.trace_id for s in (request, call, answer, relayed, consumed)} == {
        request.context.trace_id}
    assert consumed.attributes["messaging.consumer"] == (
        "inventory.when_order_created_reserve_stock")
