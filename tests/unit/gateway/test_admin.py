"""The admin API: token guard, route changes with audit, automatic rollback on SLO breach."""

import httpx
import pytest

from migration.gateway.bootstrap import build_gateway
from migration.gateway.gateway_settings import GatewaySettings
from migration.gateway.proxy import Gateway
from migration.gateway.routes import Route, RouteMode, RouteTable
from migration.gateway.store import FileToggleStore, ToggleStore
from tests.fakes import MemoryToggleStore

pytestmark = pytest.mark.anyio
TOKEN = "s3cret"


def gateway(token: str | None = TOKEN, routes: tuple[Route, ...] = (),
            store: ToggleStore | None = None) -> Gateway:
    settings = GatewaySettings(monolith_url="http://monolith.invalid",
                               services={"inventory": "http://inventory.invalid"},
                               admin_token=token)
    return build_gateway(settings, store or MemoryToggleStore(RouteTable(list(routes))))


async def call(gw: Gateway, method: str, path: str, token: str | None = TOKEN, **kwargs):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=gw)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        return await client.request(method, path, headers=headers, **kwargs)


async def test_without_a_token_the_admin_api_answers_401():
    response = await call(gateway(), "GET", "/_carve/routes", token=None)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_wrong_token_is_403():
    assert (await call(gateway(), "GET", "/_carve/routes", token="nope")).status_code == 403


async def test_without_a_configured_token_the_admin_api_is_off_and_says_so():
    response = await call(gateway(token=None), "GET", "/_carve/routes")
    assert response.status_code == 503
    assert "CARVE_ADMIN_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize(("path", "token"), [
    ("/_carve/healthz", None), ("/_carve/routes", TOKEN), ("/_carve/routes", None),
    ("/_carve/nothing-here", TOKEN)])
async def test_every_admin_answer_names_the_gateway(path, token):
    response = await call(gateway(), "GET", path, token=token)
    assert response.headers.get_list("x-carve-upstream") == ["gateway"]


async def test_a_path_that_only_begins_like_the_admin_api_is_routed():
    response = await call(gateway(), "GET", "/_carvefoo")
    assert response.headers["x-carve-upstream"] == "monolith"  # an upstream's, not ours


async def test_health_needs_no_token():
    response = await call(gateway(token=None), "GET", "/_carve/healthz", token=None)
    assert response.json()["status"] == "ok"


async def test_a_store_that_cannot_be_written_is_a_503_that_says_why(tmp_path):
    (tmp_path / "not-a-directory").write_text("")
    gw = gateway(store=FileToggleStore(tmp_path / "not-a-directory" / "routes.json"))
    response = await call(gw, "PUT", "/_carve/routes", json={
        "prefix": "/api/v1/inventory", "mode": "service", "service": "inventory"})
    assert response.status_code == 503
    assert response.json()["code"] == "gateway.route_store"
    assert "cannot write" in response.json()["detail"]
    assert "not-a-directory" in response.json()["detail"]
    assert gw.table.routes == []


async def test_a_change_applies_at_once_and_is_audited():
    gw = gateway()
    response = await call(gw, "PUT", "/_carve/routes", json={
        "prefix": "/api/v1/inventory", "mode": "canary", "service": "inventory",
        "percent": 25, "reason": "first quarter"})
    assert response.status_code == 200
    assert gw.table.match("/api/v1/inventory/a").percent == 25
    audit = (await call(gw, "GET", "/_carve/audit")).json()
    assert audit[0]["reason"] == "first quarter" and audit[0]["old"] is None
    assert audit[0]["new"]["mode"] == "canary" and audit[0]["automatic"] is False


async def test_a_contract_prefix_names_its_service_when_none_is_given():
    gw = gateway()
    response = await call(gw, "PUT", "/_carve/routes",
                          json={"prefix": "/api/v1/inventory", "mode": "canary", "percent": 25})
    assert response.status_code == 200
    route = gw.table.get("/api/v1/inventory")
    assert (route.mode, route.service, route.percent) == (RouteMode.CANARY, "inventory", 25)


async def test_a_change_keeps_the_fields_it_does_not_mention():
    gw = gateway(routes=(Route(prefix="/api", mode=RouteMode.CANARY, service="inventory",
                               percent=10),))
    await call(gw, "PUT", "/_carve/routes", json={"prefix": "/api", "percent": 50})
    route = gw.table.get("/api")
    assert (route.mode, route.service, route.percent) == (RouteMode.CANARY, "inventory", 50)
    # A canary already running keeps its share when its mode is given again.
    again = await call(gw, "PUT", "/_carve/routes", json={"prefix": "/api", "mode": "canary"})
    assert again.status_code == 200 and gw.table.get("/api").percent == 50


@pytest.mark.parametrize("change,expected", [
    ({"prefix": "/api", "mode": "service", "service": "billing"}, "billing"),
    ({"prefix": "/api", "mode": "canary", "percent": 5}, "needs a service"),
    ({"prefix": "/api", "mode": "canary", "service": "inventory"}, "needs a percent"),
    ({"prefix": "/api", "mode": "sideways"}, "mode"),
    ({"prefix": "/api", "percent": 120}, "100"),
])
async def test_an_invalid_change_is_a_422_problem_and_changes_nothing(change, expected):
    gw = gateway()
    response = await call(gw, "PUT", "/_carve/routes", json=change)
    assert response.status_code == 422
    assert expected in response.json()["detail"]
    assert gw.table.routes == []


async def test_rollback_puts_the_route_back_to_the_monolith():
    gw = gateway(routes=(Route(prefix="/api", mode=RouteMode.SERVICE, service="inventory"),))
    response = await call(gw, "POST", "/_carve/routes/rollback", json={"prefix": "/api"})
    assert response.json()["new"]["mode"] == "monolith"
    assert gw.table.get("/api").mode is RouteMode.MONOLITH
    missing = await call(gw, "POST", "/_carve/routes/rollback", json={"prefix": "/nope"})
    assert missing.status_code == 404


async def test_an_slo_breach_rolls_the_canary_back_and_records_why():
    route = Route(prefix="/api", mode=RouteMode.CANARY, service="inventory", percent=50,
                  slo={"max_error_rate": 0.1, "min_requests": 5})
    gw = gateway(routes=(route,))
    gw.table = await gw.store.load()
    window = gw.guard.window(route)
    for n in range(10):
        window.record(n % 3 == 0, 0.01)
    assert await gw.guard.check() == ["/api"]
    assert gw.table.get("/api").mode is RouteMode.MONOLITH
    entry = (await gw.store.audit("/api"))[0]
    assert entry.automatic and "error rate" in entry.reason


async def test_metrics_are_prometheus_text():
    response = await call(gateway(), "GET", "/_carve/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert "carve_gateway_breaker_state" in response.text


@pytest.mark.parametrize("method,path,body", [
    ("PUT", "/_carve/routes", {"prefix": "api", "mode": "service", "service": "inventory"}),
    ("POST", "/_carve/routes/rollback", {"prefix": "x"}),
    ("PUT", "/_carve/routes", {"prefix": "/api/../users", "mode": "monolith"}),
])
async def test_a_bad_prefix_is_a_422_problem_naming_it(method, path, body):
    gw = gateway()
    response = await call(gw, method, path, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "gateway.route_invalid"
    assert repr(body["prefix"]) in response.json()["detail"]
    assert gw.table.routes == []


async def test_leaving_a_canary_records_its_window_as_the_evidence():
    canary = Route(prefix="/api", mode=RouteMode.CANARY, service="inventory", percent=25)
    gw = gateway(routes=(canary,))
    gw.apply(RouteTable([canary]))  # as a started gateway holds it
    window = gw.guard.window(canary)
    for n in range(30):
        window.record(n == 0, 0.012)
    await call(gw, "PUT", "/_carve/routes", json={"prefix": "/api", "mode": "service"})
    entry = (await call(gw, "GET", "/_carve/audit")).json()[0]
    assert entry["evidence"] == {"percent": 25, "requests": 30, "error_rate": 0.0333,
                                 "p99_ms": 12.0, "breach": None}
    await call(gw, "PUT", "/_carve/routes", json={"prefix": "/api", "mode": "monolith"})
    assert (await call(gw, "GET", "/_carve/audit")).json()[0]["evidence"] is None
