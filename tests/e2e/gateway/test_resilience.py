"""Fallback, circuit breaker, automatic rollback and the errors the gateway answers itself."""

import http.client
import subprocess
import sys
from urllib.parse import urlsplit

import httpx

from tests.support.gateway_processes import gateway_process, write_routes
from tests.support.processes import ROOT, free_port
from tests.support.waiting import wait_for

INVENTORY = "/api/v1/inventory"


def service_route(**extra) -> list[dict]:
    return [{"prefix": INVENTORY, "mode": "service", "service": "inventory", **extra}]


def test_a_read_falls_back_to_the_monolith_when_the_service_is_down_a_write_does_not(
        tmp_path, monolith_url):
    down = f"http://127.0.0.1:{free_port()}"
    routes = write_routes(tmp_path / "routes.json", service_route())
    with gateway_process(routes, monolith_url, {"inventory": down}) as gw:
        answered = httpx.get(gw.url + INVENTORY + "/sku", timeout=10)
        refused = httpx.post(gw.url + INVENTORY + "/reserve", content=b"{}", timeout=10)
        put = httpx.put(gw.url + INVENTORY + "/sku", content=b"{}", timeout=10)
        deleted = httpx.delete(gw.url + INVENTORY + "/sku", timeout=10)
    assert answered.status_code == 200
    assert answered.headers["x-carve-upstream"] == "monolith"
    assert answered.headers["x-carve-fallback"] == "gateway.upstream_unavailable"
    for response in (refused, put, deleted):
        assert response.status_code == 502
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "gateway.upstream_unavailable"


def test_a_route_may_let_idempotent_writes_fall_back(tmp_path, monolith_url):
    down = f"http://127.0.0.1:{free_port()}"
    routes = write_routes(tmp_path / "routes.json",
                          service_route(fallback={"idempotent_writes": True}))
    with gateway_process(routes, monolith_url, {"inventory": down}) as gw:
        put = httpx.put(gw.url + INVENTORY + "/sku", content=b"{}", timeout=10)
        posted = httpx.post(gw.url + INVENTORY + "/reserve", content=b"{}", timeout=10)
    assert put.status_code == 200 and put.headers["x-carve-upstream"] == "monolith"
    assert posted.status_code == 502


def test_a_canary_on_a_dead_service_rolls_back_with_default_settings(tmp_path, monolith_url):
    down = f"http://127.0.0.1:{free_port()}"
    routes = write_routes(tmp_path / "routes.json", [{
        "prefix": INVENTORY, "mode": "canary", "service": "inventory", "percent": 100}])
    with gateway_process(routes, monolith_url, {"inventory": down}) as gw:
        # Past the breaker's ten calls the service is not even called: those users still
        # got a fallback instead of the service, and count against its SLO.
        answered = [httpx.get(gw.url + INVENTORY, headers={"x-user-id": f"u{n}"}, timeout=10)
                    for n in range(25)]
        assert wait_for(lambda: mode_of(gw) == "monolith", 5, 0.1), \
            "a dead canary was not rolled back"
        audit = gw.admin("GET", "/_carve/audit").json()
    assert {r.headers["x-carve-upstream"] for r in answered} == {"monolith"}
    # Once the guard has rolled the route back (it may, before the last request), the
    # monolith answers directly, without a fallback header.
    assert "breaker_open" in {r.headers.get("x-carve-fallback") for r in answered}
    assert audit[0]["automatic"] is True
    assert audit[0]["reason"].startswith("SLO breach: error rate 100.0%")


def test_5xx_falls_back_and_the_breaker_opens(tmp_path, monolith_url, failing_url):
    routes = write_routes(tmp_path / "routes.json", service_route())
    with gateway_process(routes, monolith_url, {"inventory": failing_url}) as gw:
        reasons = [httpx.get(gw.url + INVENTORY, timeout=10).headers["x-carve-fallback"]
                   for _ in range(12)]
        upstreams = gw.admin("GET", "/_carve/upstreams").json()
        posted = httpx.post(gw.url + INVENTORY, content=b"{}", timeout=10)
    assert reasons[0] == "status_500"
    assert reasons[-1] == "breaker_open"
    assert upstreams["inventory"]["breaker"] == "open"
    assert posted.status_code == 503 and posted.json()["code"] == "gateway.circuit_open"


def test_a_canary_breaching_its_slo_rolls_itself_back(tmp_path, monolith_url, failing_url):
    routes = write_routes(tmp_path / "routes.json", [{
        "prefix": INVENTORY, "mode": "canary", "service": "inventory", "percent": 100,
        "slo": {"max_error_rate": 0.1, "min_requests": 5, "window_seconds": 30}}])
    with gateway_process(routes, monolith_url, {"inventory": failing_url}) as gw:
        for n in range(6):
            httpx.get(gw.url + INVENTORY, headers={"x-user-id": f"u{n}"}, timeout=10)
        assert wait_for(lambda: mode_of(gw) == "monolith", 5, 0.1), "no rollback"
        audit = gw.admin("GET", "/_carve/audit").json()
    assert audit[0]["automatic"] is True
    assert audit[0]["reason"].startswith("SLO breach: error rate 100.0%")
    assert (audit[0]["old"]["mode"], audit[0]["new"]["mode"]) == ("canary", "monolith")


def test_paths_with_dot_segments_or_encoded_slashes_are_400(tmp_path, monolith_url):
    routes = write_routes(tmp_path / "routes.json", [])
    with gateway_process(routes, monolith_url, {}) as gw:
        parts = urlsplit(gw.url)
        statuses = []
        for path in ("/api/v1/inventory/../users", "/api/v1/%2e%2e/admin", "/api%2Fv1",
                     "/api/v1/inventory/..#x"):
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            connection.request("GET", path)
            statuses.append(connection.getresponse().status)
            connection.close()
    assert statuses == [400, 400, 400, 400]


def test_a_body_over_the_limit_is_413_announced_or_streamed(tmp_path, monolith_url):
    routes = write_routes(tmp_path / "routes.json", [])
    two_mib = b"x" * (2 * 1024 * 1024)

    def chunks():
        for start in range(0, len(two_mib), 65536):
            yield two_mib[start:start + 65536]

    with gateway_process(routes, monolith_url, {}, ["--max-body-mb", "1"]) as gw:
        announced = httpx.post(gw.url + "/upload", content=two_mib, timeout=10)
        streamed = httpx.post(gw.url + "/upload", content=chunks(), timeout=10)
        fits = httpx.post(gw.url + "/upload", content=b"x" * 1000, timeout=10)
    assert announced.status_code == 413 and streamed.status_code == 413
    assert announced.json()["code"] == "gateway.body_too_large"
    assert fits.json()["body_bytes"] == 1000


def test_a_dead_monolith_is_a_502_problem(tmp_path):
    routes = write_routes(tmp_path / "routes.json", [])
    with gateway_process(routes, f"http://127.0.0.1:{free_port()}", {}) as gw:
        response = httpx.get(gw.url + "/anything", timeout=10)
    assert response.status_code == 502
    assert response.headers["x-carve-upstream"] == "monolith"
    assert response.json()["type"] == "urn:carve:problem:gateway.upstream_unavailable"


def test_a_route_to_a_service_the_gateway_has_no_url_for(tmp_path, monolith_url, inventory_url):
    ghost = [{"prefix": "/ghost", "mode": "service", "service": "ghost"}]
    started = subprocess.run(
        [sys.executable, "-m", "migration.cli", "run", "gateway", "--port", str(free_port()),
         "--monolith", monolith_url, "--routes", str(write_routes(tmp_path / "g.json", ghost))],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert started.returncode == 2
    assert "/ghost sends traffic to 'ghost'" in started.stderr
    assert "--service ghost=URL" in started.stderr
    routes = write_routes(tmp_path / "routes.json", [])
    with gateway_process(routes, monolith_url, {"inventory": inventory_url}) as gw:
        write_routes(routes, ghost)  # a table from the store is taken as it stands
        assert wait_for(lambda: "x-carve-fallback" in httpx.get(gw.url + "/ghost/x").headers,
                        3, 0.05), "the edit was not picked up"
        read = httpx.get(gw.url + "/ghost/x")
        write = httpx.post(gw.url + "/ghost/x", content=b"{}")
    assert read.status_code == 200 and read.headers["x-carve-upstream"] == "monolith"
    assert read.headers["x-carve-fallback"] == "unknown_service"
    assert write.status_code == 502 and write.json()["code"] == "gateway.unknown_service"


def mode_of(gw) -> str:  # type: ignore[no-untyped-def]
    """The first route's mode, as the running gateway's admin API says."""
    return gw.admin("GET", "/_carve/routes").json()["routes"][0]["mode"]
