"""Exported configuration: what each engine gets, and the same input gives the same text."""

import pytest
import yaml

from migration.gateway.exports import ExportInput, Upstream, exporters
from migration.gateway.routes import Route, RouteMode, RouteTable
from migration.runtime.errors import ConfigError

TABLE = RouteTable([
    Route(prefix="/api/v1/inventory", mode=RouteMode.CANARY, service="inventory", percent=25),
    Route(prefix="/api/v1/users", mode=RouteMode.SHADOW, service="users"),
    Route(prefix="/api/v1/orders", mode=RouteMode.SERVICE, service="orders"),
    Route(prefix="/legacy", mode=RouteMode.RETIRED),
], version=7)
UPSTREAMS = {name: Upstream(name, "127.0.0.1", port) for name, port in
             (("monolith", 8000), ("inventory", 8001), ("users", 8002), ("orders", 8003))}
SPEC = ExportInput(TABLE, UPSTREAMS)


@pytest.mark.parametrize("target", ["nginx", "envoy", "httproute"])
def test_exports_are_reproducible(target):
    render = exporters()[target]
    assert render(SPEC) == render(ExportInput(RouteTable(list(reversed(TABLE.routes)), 7),
                                              UPSTREAMS))


def test_nginx_splits_canaries_mirrors_shadows_and_backs_services_with_the_monolith():
    text = exporters()["nginx"](SPEC)
    assert 'split_clients "${carve_key_' in text and "25% carve_inventory;" in text
    assert "mirror /_carve_mirror_" in text
    assert "server 127.0.0.1:8000 backup;" in text
    assert "location = /api/v1/orders {" in text and "location /api/v1/orders/ {" in text
    assert "return 410;" in text


def test_envoy_weights_mirrors_and_ejects_outliers():
    document = yaml.safe_load(exporters()["envoy"](SPEC))
    manager = document["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    routes = manager["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    by_name = {r.get("name"): r for r in routes}
    weights = by_name["/api/v1/inventory"]["route"]["weighted_clusters"]["clusters"]
    assert [(c["name"], c["weight"]) for c in weights] == [("inventory", 2500),
                                                           ("monolith", 7500)]
    assert by_name["/api/v1/users"]["route"]["request_mirror_policies"] == [{"cluster": "users"}]
    assert by_name["/legacy"]["direct_response"] == {"status": 410}
    clusters = {c["name"]: c for c in document["static_resources"]["clusters"]}
    assert "outlier_detection" in clusters["orders"]


def test_httproute_weights_backends_and_mirrors():
    rules = yaml.safe_load(exporters()["httproute"](SPEC))["spec"]["rules"]
    by_prefix = {r["matches"][0]["path"]["value"]: r for r in rules}
    assert by_prefix["/api/v1/inventory"]["backendRefs"] == [
        {"name": "inventory", "port": 8001, "weight": 2500},
        {"name": "monolith", "port": 8000, "weight": 7500}]
    assert by_prefix["/api/v1/users"]["filters"][0]["type"] == "RequestMirror"


def test_a_route_to_a_service_without_a_url_is_a_clear_error():
    with pytest.raises(ConfigError, match="'inventory' has no URL"):
        exporters()["nginx"](ExportInput(TABLE, {"monolith": UPSTREAMS["monolith"]}))


def test_exporting_from_a_missing_route_file_is_an_error_not_an_empty_table(tmp_path):
    from migration.gateway.exporting import export_configuration

    missing = tmp_path / "routes.json"
    with pytest.raises(ConfigError, match="does not exist") as raised:
        export_configuration("nginx", str(missing), "http://127.0.0.1:8000", {})
    assert raised.value.exit_code == 2
