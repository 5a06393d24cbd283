"""Kubernetes Gateway API: one HTTPRoute with weighted backends and request mirrors."""

from __future__ import annotations

from typing import Any

import yaml

from migration.gateway.exports import ExportInput
from migration.gateway.routes import Route, RouteMode


def render_httproute(spec: ExportInput) -> str:
    """An HTTPRoute (gateway.networking.k8s.io/v1) attached to the Gateway named ``carve``."""
    monolith = _backend("monolith", spec)
    rules = [_rule(route, spec) for route in spec.table.routes]
    rules.append({"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                  "backendRefs": [monolith]})
    document = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": "carve-routes"},
                "spec": {"parentRefs": [{"name": "carve"}], "rules": rules}}
    header = (f"# carve export httproute: routes version {spec.table.version}. Backends are "
              "Services named after carve's upstreams.\n")
    return header + yaml.safe_dump(document, sort_keys=False, width=100)


def _backend(name: str, spec: ExportInput, weight: int | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": name, "port": spec.upstream(name).port}
    if weight is not None:
        ref["weight"] = weight
    return ref


def _rule(route: Route, spec: ExportInput) -> dict[str, Any]:
    # PathPrefix matches whole path elements, as the carve gateway does.
    rule: dict[str, Any] = {"matches": [{"path": {"type": "PathPrefix", "value": route.prefix}}]}
    mode = route.mode
    if mode is RouteMode.RETIRED:
        # The Gateway API has no fixed response; a rule without backends is answered 500.
        rule["backendRefs"] = []
    elif mode is RouteMode.CANARY:
        service = spec.upstream(route.service).name
        rule["backendRefs"] = [_backend(service, spec, round(route.percent * 100)),
                               _backend("monolith", spec, 10_000 - round(route.percent * 100))]
    elif mode is RouteMode.SERVICE:
        rule["backendRefs"] = [_backend(spec.upstream(route.service).name, spec)]
    else:
        rule["backendRefs"] = [_backend("monolith", spec)]
    if mode is RouteMode.SHADOW:
        rule["filters"] = [{"type": "RequestMirror", "requestMirror": {
            "backendRef": {"name": spec.upstream(route.service).name,
                           "port": spec.upstream(route.service).port}}}]
    return rule
