"""Envoy (static bootstrap): weighted clusters, request mirrors, outlier detection."""

from __future__ import annotations

from typing import Any

import yaml

from migration.gateway.exports.spec import SHARES, ExportInput, share
from migration.gateway.gateway_settings import MONOLITH
from migration.gateway.routes import Route, RouteMode


def render_envoy(spec: ExportInput) -> str:
    """A complete Envoy bootstrap in YAML; the same input always gives the same text."""
    spec.upstream(MONOLITH)
    routes = [_route(route, spec) for route in reversed(spec.table.routes)]
    if not spec.has_root_route():
        routes.append({"match": {"prefix": "/"}, "route": {"cluster": MONOLITH},
                       "response_headers_to_add": [_upstream_header(MONOLITH)]})
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                 "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "carve", "generate_request_id": True, "use_remote_address": True,
        "route_config": {"name": "carve", "virtual_hosts": [
            {"name": "carve", "domains": ["*"], "routes": routes}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    document = {"static_resources": {
        "listeners": [{"name": "carve", "address": {"socket_address": {
            "address": "0.0.0.0", "port_value": spec.listen_port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": manager}]}]}],
        "clusters": [_cluster(name, spec) for name in sorted(spec.upstreams)],
    }}
    header = f"# carve export envoy: routes version {spec.table.version}\n"
    return header + yaml.safe_dump(document, sort_keys=False, width=100)


def _upstream_header(name: str) -> dict[str, Any]:
    return {"header": {"key": "x-carve-upstream", "value": name}}


def _route(route: Route, spec: ExportInput) -> dict[str, Any]:
    # path_separated_prefix matches on segment boundaries, as the carve gateway does.
    match = {"prefix": "/"} if route.prefix == "/" else {"path_separated_prefix": route.prefix}
    entry: dict[str, Any] = {"name": route.prefix, "match": match}
    mode = route.mode
    if mode is RouteMode.RETIRED:
        entry["direct_response"] = {"status": 410}
        return entry
    if mode is RouteMode.CANARY:
        service = spec.upstream(route.service).name
        shares = share(route.percent)
        # Envoy weighs each request on its own: users are not kept on one side.
        entry["route"] = {"weighted_clusters": {"clusters": [
            {"name": service, "weight": shares,
             "response_headers_to_add": [_upstream_header(service)]},
            {"name": MONOLITH, "weight": SHARES - shares,
             "response_headers_to_add": [_upstream_header(MONOLITH)]}]},
            "retry_policy": _retries()}
        return entry
    target = spec.upstream(route.service).name if mode is RouteMode.SERVICE else MONOLITH
    entry["route"] = {"cluster": target}
    if mode is RouteMode.SERVICE:
        entry["route"]["retry_policy"] = _retries()
    if mode is RouteMode.SHADOW:
        entry["route"]["request_mirror_policies"] = [
            {"cluster": spec.upstream(route.service).name}]
    entry["response_headers_to_add"] = [_upstream_header(target)]
    return entry


def _retries() -> dict[str, Any]:
    return {"retry_on": "connect-failure,refused-stream,5xx", "num_retries": 1,
            "retriable_request_headers": [{"name": ":method", "string_match": {
                "safe_regex": {"regex": "GET|HEAD|OPTIONS|PUT|DELETE"}}}]}


def _cluster(name: str, spec: ExportInput) -> dict[str, Any]:
    upstream = spec.upstreams[name]
    cluster: dict[str, Any] = {
        "name": name, "type": "STRICT_DNS", "connect_timeout": "2s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {
                "address": upstream.host, "port_value": upstream.port}}}}]}]},
    }
    if name != MONOLITH:
        cluster["outlier_detection"] = {"consecutive_5xx": 5, "interval": "10s",
                                        "base_ejection_time": "30s",
                                        "max_ejection_percent": 100}
    return cluster
