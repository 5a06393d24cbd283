"""Each mode end to end: real upstreams, a real gateway process, the real CLI."""

import json
import subprocess
import sys
import time

import httpx

from tests.support.gateway_processes import gateway_process, write_routes
from tests.support.processes import ROOT
from tests.support.waiting import wait_for

INVENTORY = "/api/v1/inventory"


def carve(gw, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migration.cli", *args], cwd=ROOT,
                          env={**gw.cli_env(), "COLUMNS": str(columns)}, capture_output=True,
                          text=True, timeout=60)


def upstream_of(gw, path: str, user: str = "", method: str = "GET") -> str:
    headers = {"x-user-id": user} if user else {}
    response = httpx.request(method, gw.url + path, headers=headers, timeout=10)
    return response.headers["x-carve-upstream"]


def test_unrouted_and_monolith_routes_go_to_the_monolith(tmp_path, monolith_url, inventory_url):
    routes = write_routes(tmp_path / "routes.json", [
        {"prefix": INVENTORY, "mode": "monolith", "service": "inventory"}])
    with gateway_process(routes, monolith_url, {"inventory": inventory_url}) as gw:
        assert upstream_of(gw, "/api/v1/users/1") == "monolith"
        assert upstream_of(gw, INVENTORY + "/sku") == "monolith"


def test_service_mode_forwards_everything_the_service_needs(tmp_path, monolith_url,
                                                            inventory_url):
    routes = write_routes(tmp_path / "routes.json", [
        {"prefix": INVENTORY, "mode": "service", "service": "inventory"}])
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with gateway_process(routes, monolith_url, {"inventory": inventory_url}) as gw:
        response = httpx.post(gw.url + INVENTORY + "/reserve?q=2", content=b"{}", headers={
            "x-request-id": "req-42", "traceparent": trace, "connection": "keep-alive, x-hop",
            "x-hop": "secret", "host": "shop.example"}, timeout=10)
    seen = response.json()
    assert response.headers["x-carve-upstream"] == "inventory"
    assert response.headers["x-request-id"] == "req-42"
    assert (seen["path"], seen["query"], seen["body_bytes"]) == (INVENTORY + "/reserve", "q=2", 2)
    headers = seen["headers"]
    assert headers["x-forwarded-host"] == "shop.example"
    assert headers["x-forwarded-proto"] == "http" and headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["traceparent"].split("-")[1] == trace.split("-")[1]
    assert "x-hop" not in headers and "connection" not in headers
    assert "x-secret-hop" not in response.headers


def test_a_canary_set_through_the_cli_moves_a_quarter_of_the_users_at_once(
        tmp_path, monolith_url, inventory_url):
    routes = write_routes(tmp_path / "routes.json", [])
    with gateway_process(routes, monolith_url, {"inventory": inventory_url}) as gw:
        users = [f"user-{n}" for n in range(400)]
        assert {upstream_of(gw, INVENTORY, u) for u in users[:20]} == {"monolith"}
        result = carve(gw, "route", "set", INVENTORY, "--mode", "canary", "--to", "inventory",
                       "--percent", "25", "--reason", "first quarter")
        assert result.returncode == 0, result.stderr
        first = {u: upstream_of(gw, INVENTORY + "/sku-1", u) for u in users}
        share = sum(v == "inventory" for v in first.values()) / len(users)
        assert 0.18 <= share <= 0.32, share
        assert all(upstream_of(gw, INVENTORY, u) == first[u] for u in users[:40])
        listed = json.loads(carve(gw, "route", "list", "--json").stdout)
        assert listed["routes"][0]["mode"] == "canary" and listed["routes"][0]["percent"] == 25
        row = next(line for line in carve(gw, "route", "list").stdout.splitlines()
                   if INVENTORY in line)  # the prefix whole, even in 80 columns
        assert "canary" in row and "25%" in row and "inventory" in row.replace(INVENTORY, "")
        carve(gw, "route", "set", INVENTORY, "--mode", "canary", "--percent", "60")
        assert all(upstream_of(gw, INVENTORY, u) == "inventory"
                   for u, side in first.items() if side == "inventory")


def test_shadow_answers_from_the_monolith_and_diffs_the_service(tmp_path, monolith_url,
                                                                inventory_url):
    routes = write_routes(tmp_path / "routes.json", [
        {"prefix": "/json", "mode": "shadow", "service": "inventory",
         "shadow": {"ignore_fields": ["generated_at"]}},
        {"prefix": "/echo", "mode": "shadow", "service": "inventory"}])
    with gateway_process(routes, monolith_url, {"inventory": inventory_url}) as gw:
        for _ in range(5):
            assert upstream_of(gw, "/json") == "monolith"
            assert upstream_of(gw, "/echo") == "monolith"
        upstream_of(gw, "/echo", method="POST")
        time.sleep(0.5)
        result = carve(gw, "route", "diffs", "/json/", "--json")  # the prefix as typed
        echo = gw.admin("GET", "/_carve/diffs", params={"prefix": "/echo"}).json()["/echo"]
    json_stats = json.loads(result.stdout)
    # Only "name" differs between the two echo servers once generated_at is ignored.
    assert json_stats["compared"] == 5 and json_stats["samples"][0]["differences"] == ["name"]
    assert echo["compared"] == 5, "the POST is not mirrored: the route does not allow it"
    assert echo["diff_rate"] == 1.0


def test_a_retired_route_is_gone(tmp_path, monolith_url, inventory_url):
    routes = write_routes(tmp_path / "routes.json", [
        {"prefix": "/api/v1/legacy", "mode": "retired"}])
    with gateway_process(routes, monolith_url, {"inventory": inventory_url}) as gw:
        response = httpx.get(gw.url + "/api/v1/legacy/x", timeout=10)
        retired = carve(gw, "route", "set", "/api/v1/old", "--mode", "retired")
    assert retired.stdout.strip() == "/api/v1/old: - → retired (version 1)"
    assert response.status_code == 410
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-carve-upstream"] == "gateway"


def test_editing_the_route_file_applies_without_restart(tmp_path, monolith_url, inventory_url):
    routes = write_routes(tmp_path / "routes.json", [])
    with gateway_process(routes, monolith_url, {"inventory": inventory_url}) as gw:
        assert upstream_of(gw, INVENTORY) == "monolith"
        write_routes(routes, [{"prefix": INVENTORY, "mode": "service", "service": "inventory"}])
        assert wait_for(lambda: upstream_of(gw, INVENTORY) == "inventory", 3, 0.05), \
            "the edit was not picked up"


def test_cli_mistakes_are_one_clear_line(tmp_path, monolith_url, inventory_url):
    routes = write_routes(tmp_path / "routes.json", [])
    with gateway_process(routes, monolith_url, {"inventory": inventory_url}) as gw:
        bad_prefix = carve(gw, "route", "set", "api", "--mode", "service", "--to", "inventory")
        bad_rollback = carve(gw, "route", "rollback", "x")
        both_sticky = carve(gw, "route", "set", INVENTORY, "--mode", "canary", "--percent", "5",
                            "--sticky-header", "x-user", "--sticky-cookie", "sid")
        no_limit = carve(gw, "route", "audit", "--limit", "0")
        gw_env = gw.cli_env()
        gw.cli_env = lambda: {**gw_env, "CARVE_ADMIN_TOKEN": ""}
        no_token = carve(gw, "route", "list")
        gw.cli_env = lambda: {**gw_env, "CARVE_GATEWAY_URL": monolith_url}
        not_a_gateway = carve(gw, "route", "list")  # an upstream answering 200 with JSON
    for result in (bad_prefix, bad_rollback, no_token, not_a_gateway):
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    assert "422" in bad_prefix.stderr and "starts with '/'" in bad_prefix.stderr
    assert "422" in bad_rollback.stderr and "'x'" in bad_rollback.stderr
    assert "set CARVE_ADMIN_TOKEN" in no_token.stderr
    assert "not as a carve gateway" in not_a_gateway.stderr
    assert both_sticky.returncode == 2 and "not both" in both_sticky.stderr
    assert no_limit.returncode == 2 and "--limit" in no_limit.stderr
