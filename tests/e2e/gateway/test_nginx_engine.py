"""``carve run gateway --engine nginx``: NGINX carries the traffic, carve steers it.

Real NGINX (tools/ci/services.sh installs it), real echo upstreams, carve as a process.
"""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from migration.gateway import nginx_engine
from migration.gateway.engine_state import EngineState
from migration.gateway.exports.spec import Upstream
from migration.gateway.nginx_config import EngineSetup
from migration.gateway.nginx_engine import EngineFailed, NginxEngine, resolve
from migration.gateway.routes import Route, RouteTable
from tests.e2e.gateway.test_nginx_export import (
    EDGE_CASES,
    EDGE_SERVICES,
    ROUTES,
    SERVICES,
    nginx_binary,
)
from tests.support.gateway_processes import RunningGateway, gateway_process, write_routes
from tests.support.processes import ROOT, free_port, wait_until_serving
from tests.support.waiting import wait_for

ENGINE = ["--engine", "nginx"]
TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE}-b7ad6b7169203331-01"


@pytest.fixture(autouse=True)
def _nginx_installed() -> None:
    nginx_binary()  # fails (never skips) with how to install it


@contextmanager
def _inventory_service(tmp_path: Path, monolith_url: str, inventory_url: str,
                       extra: Sequence[str] = ()) -> Iterator[RunningGateway]:
    """The engine with one route, /api/v1/inventory, on the inventory service."""
    routes = write_routes(tmp_path / "routes.json", [
        {"prefix": "/api/v1/inventory", "mode": "service", "service": "inventory"}])
    with gateway_process(routes, monolith_url, {"inventory": inventory_url},
                         [*ENGINE, *extra]) as gateway:
        yield gateway


def _echo(response: httpx.Response) -> dict:
    return response.json()


def test_routed_traffic_is_carried_by_nginx_with_the_gateway_headers(
        tmp_path: Path, monolith_url: str, inventory_url: str) -> None:
    with _inventory_service(tmp_path, monolith_url, inventory_url) as gateway:
        answer = httpx.get(f"{gateway.url}/api/v1/inventory/items?x=1",
                           headers={"traceparent": TRACEPARENT})
        assert answer.status_code == 200
        assert answer.headers["server"] == "nginx"  # NGINX carried it, not carve's server
        assert answer.headers["x-carve-upstream"] == "inventory"
        seen = _echo(answer)
        assert (seen["upstream"], seen["path"], seen["query"]) == \
            ("inventory", "/api/v1/inventory/items", "x=1")
        # A new request id, the same one upstream and back.
        assert len(answer.headers["x-request-id"]) == 32
        assert seen["headers"]["x-request-id"] == answer.headers["x-request-id"]
        # The client's trace continued with a span of the gateway's.
        version, trace, span, flags = seen["headers"]["traceparent"].split("-")
        assert (version, trace, flags) == ("00", TRACE, "01")
        assert len(span) == 16 and span != "b7ad6b7169203331"
        # A client's own request id is kept; an invalid trace context starts a new trace.
        answer = httpx.get(f"{gateway.url}/api/v1/inventory/1",
                           headers={"x-request-id": "mine-1", "traceparent": "00-zz-bad-01"})
        assert answer.headers["x-request-id"] == "mine-1"
        seen = _echo(answer)
        assert seen["headers"]["x-request-id"] == "mine-1"
        version, trace, span, flags = seen["headers"]["traceparent"].split("-")
        assert (version, flags, len(trace), len(span)) == ("00", "01", 32, 16)
        # No route: the monolith, counted as unrouted.
        answer = httpx.get(f"{gateway.url}/elsewhere")
        assert answer.headers["x-carve-upstream"] == "monolith"
        assert _echo(answer)["upstream"] == "monolith"


def test_carve_answers_what_nginx_hands_it(tmp_path: Path, monolith_url: str,
                                           inventory_url: str) -> None:
    routes = write_routes(tmp_path / "routes.json", [
        {"prefix": "/api/v1/users", "mode": "shadow", "service": "inventory"},
        {"prefix": "/legacy", "mode": "retired"}])
    with gateway_process(routes, monolith_url, {"inventory": inventory_url},
                         ENGINE) as gateway:
        # Shadow: the monolith answers, carve mirrors to the service and compares.
        answer = httpx.get(f"{gateway.url}/api/v1/users/1")
        assert (answer.status_code, answer.headers["x-carve-upstream"]) == (200, "monolith")
        def compared() -> int:
            report = gateway.admin("GET", "/_carve/diffs").json()
            return report.get("/api/v1/users", {}).get("compared", 0)

        assert wait_for(lambda: compared() >= 1, 5)
        # Retired, and paths carve refuses: carve's problem bodies.
        answer = httpx.get(f"{gateway.url}/legacy/page")
        assert answer.status_code == 410
        assert answer.headers["content-type"] == "application/problem+json"
        for path in ("/api/v1/users%2F..%2Fadmin", "/api/v1/users/%2e%2e/orders",
                     "/api/v1/users/../orders", "/api/v1/users/..#x"):
            status, _, body = _raw_get(gateway.url, path)
            assert status == 400, path
            assert json.loads(body)["code"] == "gateway.path_refused", path
        # The admin API is carve's, with its token.
        assert httpx.get(f"{gateway.url}/_carve/routes").status_code == 401
        assert gateway.admin("GET", "/_carve/routes").status_code == 200


def test_what_nginx_answers_itself_is_said_as_carve_says_it(tmp_path: Path,
                                                             monolith_url: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    routes = write_routes(tmp_path / "routes.json", [
        {"prefix": "/api/v1/inventory", "mode": "service", "service": "gone"}])
    with gateway_process(routes, monolith_url, {"gone": dead},
                         [*ENGINE, "--max-body-mb", "1"]) as gateway:
        # A redirect to the monolith's own address comes back through the gateway.
        moved = httpx.get(f"{gateway.url}/redirect")
        assert (moved.status_code, moved.headers["location"]) == (302, "/moved")
        # A body over the limit: carve's 413 problem.
        refused = httpx.post(f"{gateway.url}/upload", content=b"x" * (2 * 1024 * 1024))
        assert refused.status_code == 413
        assert refused.json()["code"] == "gateway.body_too_large"
        assert refused.headers["x-carve-upstream"] == "gateway"
        # A write to a service that cannot be reached is not handed to the monolith, whether
        # its body was read first (small), or streams (long, chunked).
        for body in (b"{}", b"x" * 70_000, iter([b"{", b"}"])):
            failed = httpx.post(f"{gateway.url}/api/v1/inventory/1", content=body)
            assert failed.status_code == 502
            assert failed.headers["content-type"] == "application/problem+json"
            assert failed.json()["code"] == "gateway.upstream_unavailable"
            assert failed.headers["x-carve-upstream"] == "gone"
        # A read is: the monolith answers, and says why.
        read = httpx.get(f"{gateway.url}/api/v1/inventory/1")
        assert (read.status_code, read.headers["x-carve-upstream"]) == (200, "monolith")
        assert read.headers["x-carve-fallback"] == "gateway.upstream_unavailable"


def test_metrics_count_what_nginx_carried(tmp_path: Path, monolith_url: str,
                                          inventory_url: str) -> None:
    with _inventory_service(tmp_path, monolith_url, inventory_url) as gateway, \
            httpx.Client() as client:
        for _ in range(25):
            assert client.get(f"{gateway.url}/api/v1/inventory/1").status_code == 200
        for _ in range(5):
            assert client.get(f"{gateway.url}/other").status_code == 200

        def counted() -> str:
            return gateway.admin("GET", "/_carve/metrics").text

        wanted = ['carve_gateway_requests_total{route="/api/v1/inventory",'
                  'upstream="inventory",status="200"} 25',
                  'carve_gateway_requests_total{route="unrouted",upstream="monolith",'
                  'status="200"} 5']
        assert wait_for(lambda: all(line in counted() for line in wanted), 5), counted()


def test_a_route_change_reloads_nginx_without_failing_a_request(
        tmp_path: Path, monolith_url: str, inventory_url: str) -> None:
    with _inventory_service(tmp_path, monolith_url, inventory_url) as gateway:
        failures: list[str] = []
        seen: set[str] = set()
        done = threading.Event()

        def load() -> None:
            with httpx.Client() as client:
                while not done.is_set():
                    try:
                        answer = _get_retrying_once(client, f"{gateway.url}/api/v1/inventory/1")
                        if answer.status_code != 200:
                            failures.append(str(answer.status_code))
                        seen.add(answer.headers["x-carve-upstream"])
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            for mode in ("monolith", "service", "monolith"):
                change = {"prefix": "/api/v1/inventory", "mode": mode, "service": "inventory"}
                assert gateway.admin("PUT", "/_carve/routes", json=change).status_code == 200
                assert wait_for(lambda m=mode: _answered_by(gateway.url) ==
                                ("inventory" if m == "service" else "monolith"), 5)
        finally:
            done.set()
            for thread in threads:
                thread.join()
        assert not failures
        assert seen == {"inventory", "monolith"}


def test_once_the_health_check_says_a_table_runs_every_new_request_follows_it(
        tmp_path: Path, monolith_url: str, inventory_url: str) -> None:
    # NGINX's master starts the new workers and tells the old ones to stop accepting about
    # 100 ms later; the health check must not say the new table runs before that.
    with _inventory_service(tmp_path, monolith_url, inventory_url) as gateway:
        for version, mode in enumerate(("monolith", "service", "monolith"), start=1):
            change = {"prefix": "/api/v1/inventory", "mode": mode, "service": "inventory"}
            assert gateway.admin("PUT", "/_carve/routes", json=change).status_code == 200
            assert wait_for(lambda v=version: httpx.get(f"{gateway.url}/_carve/healthz").json()
                            ["engine"]["routes_version"] == v, 10, interval=0.005)
            wanted = "inventory" if mode == "service" else "monolith"
            answers = [_answered_by(gateway.url) for _ in range(20)]
            assert answers == [wanted] * 20, (version, answers)


def test_a_reload_nginx_does_not_act_on_is_not_said_to_be_applied(
        tmp_path: Path, monolith_url: str, inventory_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(tmp_path, monolith_url, {"inventory": inventory_url})
    route = {"prefix": "/api/v1/inventory", "service": "inventory"}
    engine.start(RouteTable([Route.model_validate({**route, "mode": "service"})], version=1))
    assert engine.process is not None
    master = engine.process.pid
    url = f"http://127.0.0.1:{engine.setup.port}"
    try:
        back = RouteTable([Route.model_validate({**route, "mode": "monolith"})], version=2)
        with monkeypatch.context() as patched:
            patched.setattr(nginx_engine, "RELOAD_SECONDS", 0.3)
            os.kill(master, signal.SIGSTOP)  # a master that does not act on the reload (yet)
            try:
                assert engine.apply(back)  # given to NGINX...
                assert not engine.settle()  # ...which does not run it
                assert engine.state == EngineState("nginx", routes_version=1)
                assert _answered_by(url) == "inventory"  # the old workers still serve
                time.sleep(0.4)
                assert not engine.settle()
                assert engine.state.routes_version == 1
                assert "routes version 2 not applied: nginx did not take it within 0.3s" \
                    in str(engine.state.problem)
            finally:
                os.kill(master, signal.SIGCONT)
        assert wait_for(engine.settle, 10, interval=0.01)  # the signal it had is acted on
        assert engine.state == EngineState("nginx", routes_version=2)
        assert [_answered_by(url) for _ in range(10)] == ["monolith"] * 10
    finally:
        engine.stop()


def _get_retrying_once(client: httpx.Client, url: str) -> httpx.Response:
    # A reload closes NGINX's idle keep-alive connections: a GET sent on one just then sees
    # it closed (or reset) with no answer, which a client may retry (RFC 9112 9.3.1), as
    # browsers do.
    try:
        return client.get(url)
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return client.get(url)


def _raw_get(url: str, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    """A GET of ``path`` exactly as written (httpx would resolve its dots): the status,
    the headers and the body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        connection.close()


def _answered_by(url: str) -> str:
    return httpx.get(f"{url}/api/v1/inventory/1").headers["x-carve-upstream"]


def test_a_failing_canary_falls_back_and_is_rolled_back(
        tmp_path: Path, monolith_url: str, failing_url: str) -> None:
    routes = write_routes(tmp_path / "routes.json", [
        {"prefix": "/api/v1/inventory", "mode": "canary", "service": "broken",
         "percent": 100, "slo": {"min_requests": 10, "window_seconds": 30}}])
    with gateway_process(routes, monolith_url, {"broken": failing_url},
                         ENGINE) as gateway, httpx.Client() as client:
        # Reads the service fails are answered by the monolith, and say why.
        answer = client.get(f"{gateway.url}/api/v1/inventory/1",
                            headers={"x-user-id": "u1"})
        assert (answer.status_code, answer.headers["x-carve-upstream"]) == (200, "monolith")
        assert answer.headers["x-carve-fallback"] == "status_500"
        # A POST is never handed to the monolith: the service's own 500.
        posted = client.post(f"{gateway.url}/api/v1/inventory/1", json={},
                             headers={"x-user-id": "u1"})
        assert (posted.status_code, _echo(posted)["upstream"]) == (500, "broken")
        reasons = []
        for n in range(30):
            answer = client.get(f"{gateway.url}/api/v1/inventory/{n}",
                                headers={"x-user-id": f"u{n}"})
            assert (answer.status_code, answer.headers["x-carve-upstream"]) == (200, "monolith")
            reasons.append(answer.headers.get("x-carve-fallback"))
        # After three failed calls NGINX passes the service over for 10 s (its breaker): the
        # monolith's answers still say so (none once the rollback has reached NGINX).
        assert reasons[:2] == ["status_500", "status_500"]
        assert "breaker_open" in reasons
        assert set(reasons) <= {"status_500", "breaker_open", None}

        def mode() -> str:
            return json.loads(Path(routes).read_text())["routes"][0]["mode"]

        # The SLO guard read the failures from NGINX's log and rolled the canary back.
        assert wait_for(lambda: mode() == "monolith", 10), mode()
        audit = gateway.admin("GET", "/_carve/audit").json()
        assert audit[0]["automatic"] and audit[0]["evidence"]["error_rate"] > 0.05, audit
        # NGINX reloaded with the route on the monolith: no fallback (after a failed call,
        # or NGINX's breaker passing the service over) is said any more.
        def after_rollback() -> bool:
            headers = client.get(f"{gateway.url}/api/v1/inventory/1",
                                 headers={"x-user-id": "u1"}).headers
            return headers["x-carve-upstream"] == "monolith" \
                and "x-carve-fallback" not in headers

        assert wait_for(after_rollback, 5)
        metrics = gateway.admin("GET", "/_carve/metrics").text
        assert 'carve_gateway_fallbacks_total{route="/api/v1/inventory",reason="status_500"}' \
            in metrics


def test_which_requests_a_failing_service_hands_to_the_monolith(
        tmp_path: Path, monolith_url: str, failing_url: str) -> None:
    # Reads always, PUT and DELETE where the route says idempotent_writes, never POST or
    # PATCH, as carve's own data plane; a body with a Content-Length up to 64 KiB is read
    # whole first and replayed, a longer or chunked one streams through and is not. A
    # canary's monolith side goes to the monolith whatever the method. Each route has its
    # own service (its own group): NGINX's breaker passes a service over after three failed
    # calls.
    routes = write_routes(tmp_path / "routes.json", [
        {"prefix": "/reads", "mode": "service", "service": "reads"},
        {"prefix": "/writes", "mode": "service", "service": "writes",
         "fallback": {"idempotent_writes": True}},
        {"prefix": "/canary", "mode": "canary", "service": "canary", "percent": 100,
         "fallback": {"idempotent_writes": True}},
        {"prefix": "/outside", "mode": "canary", "service": "outside", "percent": 0}])
    services = dict.fromkeys(("reads", "writes", "canary", "outside"), failing_url)
    with gateway_process(routes, monolith_url, services, ENGINE) as gateway, \
            httpx.Client(timeout=10) as client:
        def answered(method: str, prefix: str, body: object = b"{}") -> tuple:
            response = client.request(method, f"{gateway.url}{prefix}/1", content=body,
                                      headers={"x-user-id": "u1"})
            return (response.status_code, response.headers["x-carve-upstream"],
                    response.headers.get("x-carve-fallback"))

        replayed, failed = (200, "monolith", "status_500"), (500, "{}", None)
        for method, prefix, body, expected in (
                ("GET", "/reads", b"{}", replayed), ("PUT", "/reads", b"{}", failed),
                ("POST", "/reads", b"{}", failed),
                ("GET", "/writes", b"", replayed),
                ("PUT", "/writes", b"x" * 65536, replayed),
                ("PUT", "/writes", b"x" * 65537, failed),
                ("POST", "/writes", b"{}", failed),
                ("DELETE", "/canary", b"", replayed),
                # chunked, and longer than what comes with the request's head: streamed
                # (a small one NGINX may have read whole with the head, and then replays)
                ("PUT", "/canary", iter([b"x" * 32768] * 4), failed),
                ("PATCH", "/canary", b"{}", failed)):
            status, upstream, fallback = expected
            upstream = upstream.format(prefix.strip("/"))
            assert answered(method, prefix, body) == (status, upstream, fallback), \
                (method, prefix, len(body) if isinstance(body, bytes) else "chunked")
        for method in ("GET", "POST", "PATCH", "DELETE"):
            assert answered(method, "/outside") == (200, "monolith", None), method


def test_an_open_breaker_is_said_even_when_the_monolith_fails_too(
        tmp_path: Path, failing_url: str) -> None:
    # The service fails its reads (500), the monolith cannot be reached: each read ends in
    # carve's 502 problem. After three failures NGINX passes the service over, and the
    # metrics read from its log say so, as they did before (status_500).
    dead = f"http://127.0.0.1:{free_port()}"
    routes = write_routes(tmp_path / "routes.json", [
        {"prefix": "/api/v1/inventory", "mode": "service", "service": "broken"}])
    with gateway_process(routes, dead, {"broken": failing_url}, ENGINE) as gateway, \
            httpx.Client(timeout=10) as client:
        for n in range(6):
            answer = client.get(f"{gateway.url}/api/v1/inventory/{n}")
            assert answer.status_code == 502, answer.text
            assert answer.json()["code"] == "gateway.upstream_unavailable"

        def fallbacks() -> dict[str, int]:
            found = re.findall(r'carve_gateway_fallbacks_total\{route="/api/v1/inventory",'
                               r'reason="([^"]+)"\} (\d+)',
                               gateway.admin("GET", "/_carve/metrics").text)
            return {reason: int(float(n)) for reason, n in found}

        assert wait_for(lambda: sum(fallbacks().values()) == 6, 5), fallbacks()
        assert fallbacks() == {"status_500": 3, "breaker_open": 3}


def test_routes_nginx_cannot_carry_are_served_by_carve_and_later_changes_still_apply(
        tmp_path: Path, monolith_url: str, inventory_url: str) -> None:
    with _inventory_service(tmp_path, monolith_url, inventory_url) as gateway:
        # A canary sticky on a header NGINX cannot read ("."), through the admin API.
        change = {"prefix": "/api/v1/orders", "mode": "canary", "service": "inventory",
                  "percent": 100, "sticky": {"kind": "header", "name": "x.user"}}
        assert gateway.admin("PUT", "/_carve/routes", json=change).status_code == 200
        # Another replica's table naming a service this one has no URL for (a file edit).
        table = json.loads(Path(gateway.routes).read_text())
        table["routes"].append({"prefix": "/api/v1/users", "mode": "service",
                                "service": "ghost"})
        Path(gateway.routes).write_text(json.dumps(table))

        def served() -> bool:
            orders = httpx.get(f"{gateway.url}/api/v1/orders/1", headers={"x.user": "a"})
            users = httpx.get(f"{gateway.url}/api/v1/users/1")
            return orders.headers["x-carve-upstream"] == "inventory" \
                and users.headers["x-carve-upstream"] == "monolith"

        assert wait_for(served, 5)  # by carve's own gateway, which NGINX hands them to
        assert gateway.process.poll() is None
        # NGINX is not stuck on an older table: a change after those still reaches it.
        change = {"prefix": "/api/v1/inventory", "mode": "monolith"}
        assert gateway.admin("PUT", "/_carve/routes", json=change).status_code == 200
        assert wait_for(lambda: _answered_by(gateway.url) == "monolith", 5)
        assert httpx.get(f"{gateway.url}/api/v1/inventory/1").headers["server"] == "nginx"


def test_a_table_nginx_could_not_take_is_said_by_the_health_check(
        tmp_path: Path, monolith_url: str, inventory_url: str) -> None:
    folder = tmp_path / "engine"
    with _inventory_service(tmp_path, monolith_url, inventory_url,
                            ["--engine-dir", str(folder)]) as gateway:
        health = httpx.get(f"{gateway.url}/_carve/healthz").json()
        assert health["status"] == "ok"
        assert health["engine"] == {"name": "nginx", "routes_version": 0}
        (folder / "nginx.conf.new").mkdir()  # the next configuration cannot be written
        change = {"prefix": "/api/v1/inventory", "mode": "monolith"}
        assert gateway.admin("PUT", "/_carve/routes", json=change).status_code == 200

        def health_now() -> dict:
            return httpx.get(f"{gateway.url}/_carve/healthz").json()

        assert wait_for(lambda: health_now()["status"] == "degraded", 5)
        health = health_now()
        assert (health["routes_version"], health["engine"]["routes_version"]) == (1, 0)
        assert "routes version 1 not applied" in health["engine"]["problem"]
        assert _answered_by(gateway.url) == "inventory"  # NGINX keeps the table it runs
        metrics = gateway.admin("GET", "/_carve/metrics").text
        assert 'carve_gateway_engine_routes_version{engine="nginx"} 0' in metrics
        # Once the cause is gone, the table is applied at the next try (every 5 s).
        (folder / "nginx.conf.new").rmdir()
        assert wait_for(lambda: health_now()["status"] == "ok", 10), health_now()
        assert health_now()["engine"] == {"name": "nginx", "routes_version": 1}
        assert _answered_by(gateway.url) == "monolith"


def test_a_service_whose_name_does_not_resolve_is_served_by_carve_and_said(
        tmp_path: Path, monolith_url: str) -> None:
    routes = write_routes(tmp_path / "routes.json", [
        {"prefix": "/api/v1/inventory", "mode": "service", "service": "ghost"}])
    with gateway_process(routes, monolith_url, {"ghost": "http://ghost.invalid:8080"},
                         ENGINE) as gateway:
        # Through carve's own gateway: its connection fails, the monolith answers the read.
        answer = httpx.get(f"{gateway.url}/api/v1/inventory/1")
        assert (answer.status_code, answer.headers["x-carve-upstream"]) == (200, "monolith")
        assert answer.headers["x-carve-fallback"] == "gateway.upstream_unavailable"
        health = httpx.get(f"{gateway.url}/_carve/healthz").json()
        assert health["status"] == "degraded"
        assert "service ghost does not resolve" in health["engine"]["problem"]


def test_a_request_nginx_cannot_parse_is_answered_as_carve_answers_it(
        tmp_path: Path, monolith_url: str) -> None:
    routes = write_routes(tmp_path / "routes.json", [])
    with gateway_process(routes, monolith_url, {}, ENGINE) as gateway:
        status, headers, body = _raw_get(gateway.url, "/../etc")
        assert status == 400
        assert headers["x-carve-upstream"] == "gateway"
        assert body.endswith(b"malformed HTTP request")


def test_a_restart_in_the_same_folder_counts_only_its_own_requests(
        tmp_path: Path, monolith_url: str) -> None:
    routes = write_routes(tmp_path / "routes.json", [])
    folder = tmp_path / "engine"
    line = 'carve_gateway_requests_total{route="unrouted",upstream="monolith",status="200"} 5'
    for _ in range(2):
        with gateway_process(routes, monolith_url, {},
                             [*ENGINE, "--engine-dir", str(folder)]) as gateway:
            for _ in range(5):
                assert httpx.get(f"{gateway.url}/x").status_code == 200
            assert wait_for(lambda g=gateway: line in g.admin("GET", "/_carve/metrics").text,
                            5)
            time.sleep(0.6)  # another read of the log: still five
            assert line in gateway.admin("GET", "/_carve/metrics").text
    # Without --workers, one NGINX worker per core carve may run on (NGINX's "auto").
    assert f"worker_processes {len(os.sched_getaffinity(0))};" in (
        folder / "nginx.conf").read_text()


def test_a_signal_to_the_process_group_lets_requests_in_flight_finish(
        tmp_path: Path, monolith_url: str) -> None:
    # As a terminal's Ctrl-C or a service manager's stop sends it: to every process of
    # carve's group. NGINX is in a session of its own and gets carve's graceful stop.
    routes = write_routes(tmp_path / "routes.json", [])
    port = free_port()
    carve = subprocess.Popen(
        [sys.executable, "-m", "migration.cli", "run", "gateway", *ENGINE, "--port", str(port),
         "--monolith", monolith_url, "--routes", str(routes)], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/_carve/healthz", carve)
        answers: list[int] = []
        slow = threading.Thread(target=lambda: answers.append(
            httpx.get(f"http://127.0.0.1:{port}/slow?ms=1500", timeout=10).status_code))
        slow.start()
        time.sleep(0.5)
        os.killpg(carve.pid, signal.SIGINT)
        slow.join()
        assert answers == [200]
        assert carve.wait(timeout=20) == 0
    finally:
        if carve.poll() is None:
            os.killpg(carve.pid, signal.SIGKILL)
            carve.wait()


def test_nginx_stops_with_carve_even_when_carve_is_killed(
        tmp_path: Path, monolith_url: str) -> None:
    routes = write_routes(tmp_path / "routes.json", [])
    for how in (signal.SIGTERM, signal.SIGKILL):
        folder = tmp_path / f"engine-{how.name}"
        with gateway_process(routes, monolith_url, {},
                             [*ENGINE, "--engine-dir", str(folder)]) as gateway:
            master = int((folder / "nginx.pid").read_text())
            os.kill(gateway.process.pid, how)
            gateway.process.wait(timeout=20)
            assert wait_for(lambda m=master: not _alive(m), 10), f"nginx {master} outlived carve"
            if how is signal.SIGTERM:
                assert gateway.process.returncode == 0


def test_carve_stops_when_nginx_dies_and_leaves_no_worker_serving(
        tmp_path: Path, monolith_url: str) -> None:
    routes = write_routes(tmp_path / "routes.json", [])
    folder = tmp_path / "engine"
    with gateway_process(routes, monolith_url, {},
                         [*ENGINE, "--engine-dir", str(folder)]) as gateway:
        os.kill(int((folder / "nginx.pid").read_text()), signal.SIGKILL)
        assert gateway.process.wait(timeout=20) == 1
        said = gateway.process.stdout.read().decode()
        assert "nginx exited with code -9 while serving" in said
        with pytest.raises(httpx.ConnectError):  # its workers went with it
            httpx.get(f"{gateway.url}/anything", timeout=2)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is left


def test_bad_engine_input_is_one_clear_line(tmp_path: Path, monolith_url: str) -> None:
    routes = write_routes(tmp_path / "routes.json", [])
    base = [sys.executable, "-m", "migration.cli", "run", "gateway", "--engine", "nginx",
            "--port", str(free_port()), "--monolith", monolith_url, "--routes", str(routes)]
    cases = [
        (["--nginx", str(tmp_path / "no-nginx")], "no NGINX at"),
        (["--service", "svc=http://127.0.0.1:9/base"], "has a base path"),
    ]
    for extra, said in cases:
        done = subprocess.run([*base, *extra], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 2, done.stderr
        assert said in done.stderr
        assert "Traceback" not in done.stderr


def _engine(tmp_path: Path, monolith: str, services: dict[str, str]) -> NginxEngine:
    upstreams = {name: Upstream.from_url(name, url)
                 for name, url in {"monolith": monolith, **services}.items()}
    return NginxEngine(EngineSetup("127.0.0.1", free_port(), tmp_path, free_port(), upstreams,
                                   resolve(upstreams)), nginx_binary())


# Routes that name a service this gateway has no URL for (another replica's table).
NAMING_UNKNOWN = [{"prefix": "/a", "mode": "monolith", "service": "ghost"},
                  {"prefix": "/b", "mode": "shadow", "service": "ghost"},
                  {"prefix": "/c", "mode": "retired", "service": "ghost"},
                  {"prefix": "/d", "mode": "service", "service": "ghost"}]


@pytest.mark.parametrize("case", ["every-mode", "naming-unknown", *sorted(EDGE_CASES)])
def test_nginx_accepts_the_engine_configuration_of_every_table(tmp_path: Path,
                                                                case: str) -> None:
    monolith, routes = ("http://127.0.0.1:8000", ROUTES["routes"]) if case == "every-mode" \
        else ("http://127.0.0.1:8000", NAMING_UNKNOWN) if case == "naming-unknown" \
        else EDGE_CASES[case]
    services = SERVICES if case == "every-mode" else {} if case == "naming-unknown" else {
        name: url for name, url in EDGE_SERVICES.items()
        if any(route.get("service") == name for route in routes)}
    table = RouteTable([Route.model_validate(route) for route in routes], version=3)
    engine = _engine(tmp_path, monolith, services)
    engine.config.write_text(engine.render(table)[1])
    for path in engine.setup.temp_dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    engine.check(engine.config)  # raises EngineFailed with NGINX's complaint


def test_a_configuration_nginx_refuses_is_said_in_its_words(tmp_path: Path) -> None:
    engine = _engine(tmp_path, "http://127.0.0.1:8000", {})
    engine.config.write_text("events {}\nhttp { nonsense on; }\n")
    with pytest.raises(EngineFailed, match='unknown directive "nonsense"'):
        engine.check(engine.config)


def test_a_sticky_canary_keeps_each_user_on_one_side(tmp_path: Path, monolith_url: str,
                                                     inventory_url: str) -> None:
    routes = write_routes(tmp_path / "routes.json", [
        {"prefix": "/api/v1/inventory", "mode": "canary", "service": "inventory",
         "percent": 50}])
    with gateway_process(routes, monolith_url, {"inventory": inventory_url},
                         ENGINE) as gateway, httpx.Client() as client:
        sides = {}
        for n in range(40):
            user = {"x-user-id": f"user-{n}"}
            first = client.get(f"{gateway.url}/api/v1/inventory/a", headers=user)
            again = client.get(f"{gateway.url}/api/v1/inventory/b", headers=user)
            assert first.headers["x-carve-upstream"] == again.headers["x-carve-upstream"]
            assert _echo(first)["upstream"] == first.headers["x-carve-upstream"]
            sides[n] = first.headers["x-carve-upstream"]
        assert set(sides.values()) == {"inventory", "monolith"}  # 40 users, half each way
