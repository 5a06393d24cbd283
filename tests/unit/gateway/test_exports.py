"""Exported configuration: what each engine gets, and the same input gives the same text."""

import re

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


def _canary(prefix: str, service: str = "inventory", percent: float = 10, **sticky) -> Route:
    return Route(prefix=prefix, mode=RouteMode.CANARY, service=service, percent=percent,
                 **({"sticky": sticky} if sticky else {}))


def test_canary_percents_are_hundredths_every_engine_takes_and_the_gateway_splits_by():
    spec = ExportInput(RouteTable([_canary("/a", percent=33.333), _canary("/b", percent=0.001),
                                   _canary("/c", percent=0), _canary("/d", percent=0.07)]),
                       UPSTREAMS)
    text = exporters()["nginx"](spec)
    # NGINX refuses "33.333%", "0.001%" and "0%"; a zero canary is "*" alone.
    assert "33.34% carve_inventory;" in text and "0.01% carve_inventory;" in text
    assert "0.07% carve_inventory;" in text and " 0% " not in text
    rules = yaml.safe_load(exporters()["httproute"](spec))["spec"]["rules"]
    weights = {r["matches"][0]["path"]["value"]: [b["weight"] for b in r["backendRefs"]]
               for r in rules if len(r["backendRefs"]) == 2}
    assert weights == {"/a": [3334, 6666], "/b": [1, 9999], "/c": [0, 10000],
                       "/d": [7, 9993]}


def test_a_route_on_root_is_the_catch_all_in_every_engine():
    spec = ExportInput(RouteTable([_canary("/", percent=5), *TABLE.routes]), UPSTREAMS)
    assert exporters()["nginx"](spec).count("location / {") == 1
    document = yaml.safe_load(exporters()["envoy"](spec))
    manager = document["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    routes = manager["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    assert [r["match"] for r in routes].count({"prefix": "/"}) == 1
    assert "weighted_clusters" in routes[-1]["route"]
    rules = yaml.safe_load(exporters()["httproute"](spec))["spec"]["rules"]
    assert [r["matches"][0]["path"]["value"] for r in rules].count("/") == 1


ALIKE = {**UPSTREAMS, **{name: Upstream(name, "127.0.0.1", port) for name, port in
                         (("my-svc", 8011), ("my_svc", 8012), ("My_Svc", 8013))}}
ALIKE_TABLE = RouteTable([Route(prefix="/a", mode=RouteMode.SERVICE, service="my-svc"),
                          _canary("/b", service="my_svc"),
                          Route(prefix="/c", mode=RouteMode.SHADOW, service="My_Svc")])


def test_nginx_groups_of_names_that_spell_alike_are_distinct():
    text = exporters()["nginx"](ExportInput(ALIKE_TABLE, ALIKE))
    groups = [line.split()[1] for line in text.splitlines() if line.startswith("upstream ")]
    # NGINX compares upstream names without case.
    assert len({g.lower() for g in groups}) == len(groups) == len(ALIKE)
    assert "upstream carve_my_svc {" in text and "upstream carve_inventory {" in text


def test_httproute_backends_are_service_names_kubernetes_takes_and_the_mapping_is_said():
    text = exporters()["httproute"](ExportInput(ALIKE_TABLE, ALIKE))
    rules = yaml.safe_load(text)["spec"]["rules"]
    by_prefix = {r["matches"][0]["path"]["value"]: r for r in rules}
    names = [by_prefix["/a"]["backendRefs"][0]["name"],
             by_prefix["/b"]["backendRefs"][0]["name"],
             by_prefix["/c"]["filters"][0]["requestMirror"]["backendRef"]["name"]]
    assert names[0] == "my-svc" and len(set(names)) == 3
    assert all(re.fullmatch(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", name) for name in names)
    assert f"# upstream 'my_svc' is Service {names[1]}" in text


def test_envoy_clusters_keep_the_names_as_they_are():
    document = yaml.safe_load(exporters()["envoy"](ExportInput(ALIKE_TABLE, ALIKE)))
    assert sorted(c["name"] for c in document["static_resources"]["clusters"]) == sorted(ALIKE)


def test_nginx_reads_a_sticky_cookie_it_has_no_variable_for_from_the_cookie_header():
    spec = ExportInput(RouteTable([_canary("/a", kind="cookie", name="my.sid"),
                                   _canary("/b", kind="cookie", name="sid")]), UPSTREAMS)
    text = exporters()["nginx"](spec)
    assert "$cookie_my" not in text and "map $cookie_sid " in text
    assert 'map $http_cookie $carve_key_0 { "~(?:^|;)\\s*my\\.sid=([^;]+)" $1; ' in text


@pytest.mark.parametrize(("kind", "name", "message"), [
    ("cookie", "a;b", "not a valid cookie name"), ("header", "x.user", "NGINX ignores")])
def test_nginx_refuses_a_sticky_name_no_request_can_carry_to_it(kind, name, message):
    spec = ExportInput(RouteTable([_canary("/a", kind=kind, name=name)]), UPSTREAMS)
    with pytest.raises(ConfigError, match=message):
        exporters()["nginx"](spec)


def test_nginx_reads_headers_with_underscores_only_when_a_canary_is_sticky_on_one():
    sticky = ExportInput(RouteTable([_canary("/a", kind="header", name="x_user")]), UPSTREAMS)
    assert "underscores_in_headers on;" in exporters()["nginx"](sticky)
    assert "underscores_in_headers" not in exporters()["nginx"](SPEC)


def test_nginx_writes_ipv6_upstreams_in_brackets():
    upstreams = {**UPSTREAMS, "inventory": Upstream.from_url("inventory", "http://[::1]:8001/")}
    text = exporters()["nginx"](ExportInput(TABLE, upstreams))
    assert "server [::1]:8001 max_fails=3 fail_timeout=10s;" in text
    assert yaml.safe_load(exporters()["envoy"](ExportInput(TABLE, upstreams)))


@pytest.mark.parametrize("url", ["http://h:1/base", "http://h:1/base/", "http://h:1/?a=1"])
def test_an_upstream_base_path_is_refused_not_dropped(url):
    with pytest.raises(ConfigError, match="upstream users: .* base path"):
        Upstream.from_url("users", url)


def test_an_upstream_with_an_invalid_port_is_a_clear_error():
    with pytest.raises(ConfigError, match="upstream users: .* invalid port"):
        Upstream.from_url("users", "http://h:99999")


def test_httproute_splits_a_table_past_sixteen_rules_across_routes():
    table = RouteTable([Route(prefix=f"/p{i:02d}", mode=RouteMode.SERVICE, service="orders")
                        for i in range(20)], version=3)
    documents = list(yaml.safe_load_all(exporters()["httproute"](ExportInput(table,
                                                                             UPSTREAMS))))
    assert [len(d["spec"]["rules"]) for d in documents] == [16, 5]
    assert [d["metadata"]["name"] for d in documents] == ["carve-routes", "carve-routes-2"]
    prefixes = [r["matches"][0]["path"]["value"] for d in documents for r in d["spec"]["rules"]]
    assert sorted(prefixes) == sorted(["/", *(f"/p{i:02d}" for i in range(20))])
