"""Kubernetes Gateway API: HTTPRoutes with weighted backends and request mirrors."""

from __future__ import annotations

import re
from typing import Any

import yaml

from migration.gateway.exports.spec import SHARES, ExportInput, distinct, share
from migration.gateway.gateway_settings import MONOLITH
from migration.gateway.routes import Route, RouteMode

# The Gateway API's limit of rules in one HTTPRoute; a longer table is several of them.
MAX_RULES = 16
# A Kubernetes Service's name is an RFC 1035 label: lowercase letters, digits and '-',
# starting with a letter, ending with a letter or digit, at most 63 characters.
_LABEL_LENGTH = 63


def _spell(name: str, attempt: int) -> str:
    label = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not label[:1].isalpha():
        label = "svc-" + label
    suffix = "" if attempt == 1 else f"-{attempt}"
    return label[:_LABEL_LENGTH - len(suffix)].rstrip("-") + suffix


def render_httproute(spec: ExportInput) -> str:
    """HTTPRoutes (gateway.networking.k8s.io/v1) attached to the Gateway named ``carve``.

    One object holds at most 16 rules, so a longer table is split across several. That
    keeps its meaning: the Gateway API picks the longest matching prefix over every
    HTTPRoute of a Gateway, not the first rule of one object.
    """
    names = distinct(spec.upstreams, _spell)
    rules = [_rule(route, spec, names) for route in spec.table.routes]
    if not spec.has_root_route():
        rules.append({"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                      "backendRefs": [_backend(MONOLITH, spec, names)]})
    documents = [_httproute(number, rules[start:start + MAX_RULES])
                 for number, start in enumerate(range(0, len(rules), MAX_RULES), 1)]
    header = [f"# carve export httproute: routes version {spec.table.version}. Backends are "
              "Services named after carve's upstreams."]
    header += [f"# upstream {name!r} is Service {label}" for name, label in names.items()
               if label != name]
    return "\n".join(header) + "\n" + yaml.safe_dump_all(documents, sort_keys=False,
                                                         width=100)


def _httproute(number: int, rules: list[dict[str, Any]]) -> dict[str, Any]:
    name = "carve-routes" if number == 1 else f"carve-routes-{number}"
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name},
            "spec": {"parentRefs": [{"name": "carve"}], "rules": rules}}


def _backend(name: str, spec: ExportInput, names: dict[str, str],
             weight: int | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": names[name], "port": spec.upstream(name).port}
    if weight is not None:
        ref["weight"] = weight
    return ref


def _rule(route: Route, spec: ExportInput, names: dict[str, str]) -> dict[str, Any]:
    # PathPrefix matches whole path elements, as the carve gateway does.
    rule: dict[str, Any] = {"matches": [{"path": {"type": "PathPrefix", "value": route.prefix}}]}
    mode = route.mode
    if mode is RouteMode.RETIRED:
        # The Gateway API has no fixed response; a rule without backends is answered 500.
        rule["backendRefs"] = []
    elif mode is RouteMode.CANARY:
        service = spec.upstream(route.service).name
        shares = share(route.percent)
        rule["backendRefs"] = [_backend(service, spec, names, shares),
                               _backend(MONOLITH, spec, names, SHARES - shares)]
    elif mode is RouteMode.SERVICE:
        rule["backendRefs"] = [_backend(spec.upstream(route.service).name, spec, names)]
    else:
        rule["backendRefs"] = [_backend(MONOLITH, spec, names)]
    if mode is RouteMode.SHADOW:
        rule["filters"] = [{"type": "RequestMirror", "requestMirror": {
            "backendRef": _backend(spec.upstream(route.service).name, spec, names)}}]
    return rule
