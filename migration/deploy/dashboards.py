"""Grafana dashboards for the plan, generated from the metric names carve's processes export.

- the gateway (``/_carve/metrics``): ``carve_gateway_requests_total`` and
  ``carve_gateway_request_duration_seconds`` by route and upstream, fallbacks, rollbacks;
- the events (relays' and workers' ``/metrics``): ``carve_outbox_backlog``,
  ``carve_outbox_oldest_pending_seconds`` (the relay's lag), ``carve_dead_letters``;
- each HTTP process, the monolith and every extracted service (``/metrics``):
  ``carve_http_requests_total`` and ``carve_http_request_duration_seconds`` by route,
  told apart by their ``service`` label.
"""

from __future__ import annotations

import json
from typing import Any

from migration.deploy.plan import SystemPlan

DASHBOARD_DIR = "deploy/grafana/dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
WINDOW = "$__rate_interval"


def dashboard_files(plan: SystemPlan) -> dict[str, str]:
    """File name → JSON text of every dashboard the plan needs (stable for a plan)."""
    boards = [gateway_dashboard(), events_dashboard(), http_dashboard("monolith")]
    boards += [http_dashboard(module.service) for module in plan.remote]
    return {f"{board['uid']}.json": json.dumps(board, indent=2, sort_keys=True) + "\n"
            for board in boards}


def gateway_dashboard() -> dict[str, Any]:
    """Rate, errors and p99 per route and upstream; the canary's share; fallbacks."""
    requests = "carve_gateway_requests_total"
    duration = "carve_gateway_request_duration_seconds_bucket"
    return _dashboard("carve-gateway", "carve · gateway", [
        _panel("Requests/s by route and upstream",
               f"sum by (route, upstream) (rate({requests}[{WINDOW}]))",
               "{{route}} → {{upstream}}"),
        _panel("Error ratio (5xx) by route and upstream",
               f'sum by (route, upstream) (rate({requests}{{status=~"5.."}}[{WINDOW}])) / '
               f"sum by (route, upstream) (rate({requests}[{WINDOW}]))",
               "{{route}} → {{upstream}}", unit="percentunit"),
        _panel("p99 latency by route and upstream",
               f"histogram_quantile(0.99, sum by (route, upstream, le) "
               f"(rate({duration}[{WINDOW}])))", "{{route}} → {{upstream}}", unit="s"),
        _panel("Canary share: traffic to services by route",
               f'sum by (route) (rate({requests}{{upstream!="monolith"}}[{WINDOW}])) / '
               f"sum by (route) (rate({requests}[{WINDOW}]))", "{{route}}",
               unit="percentunit"),
        _panel("Fallbacks to the monolith/s",
               f"sum by (route, reason) (rate(carve_gateway_fallbacks_total[{WINDOW}]))",
               "{{route}} ({{reason}})"),
        _panel("Automatic rollbacks", "sum by (route) (carve_gateway_rollbacks_total)",
               "{{route}}"),
    ])


def events_dashboard() -> dict[str, Any]:
    """Outbox backlog, the relay's lag and dead letters, per module."""
    return _dashboard("carve-events", "carve · events", [
        _panel("Outbox backlog (rows not yet relayed)", "sum by (module) (carve_outbox_backlog)",
               "{{module}}"),
        _panel("Relay lag: age of the oldest pending row",
               "max by (module) (carve_outbox_oldest_pending_seconds)", "{{module}}", unit="s"),
        _panel("Dead letters", "sum by (module) (carve_dead_letters)", "{{module}}"),
    ])


def http_dashboard(service: str) -> dict[str, Any]:
    """One HTTP process (the monolith or an extracted service): rate, errors, p99 by route."""
    match = f'service="{service}"'
    requests = f"carve_http_requests_total{{{match}}}"
    return _dashboard(f"carve-{service}", f"carve · {service}", [
        _panel("Requests/s by route", f"sum by (method, route) (rate({requests}[{WINDOW}]))",
               "{{method}} {{route}}"),
        _panel("Error ratio (5xx) by route",
               f'sum by (route) (rate(carve_http_requests_total{{{match},status=~"5.."}}'
               f"[{WINDOW}])) / sum by (route) (rate({requests}[{WINDOW}]))", "{{route}}",
               unit="percentunit"),
        _panel("p99 latency by route",
               f"histogram_quantile(0.99, sum by (route, le) "
               f"(rate(carve_http_request_duration_seconds_bucket{{{match}}}[{WINDOW}])))",
               "{{route}}", unit="s"),
    ])


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    for index, panel in enumerate(panels):
        panel["id"] = index + 1
        panel["gridPos"] = {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)}
    return {"uid": uid, "title": title, "tags": ["carve"], "schemaVersion": 39,
            "editable": True, "refresh": "10s", "time": {"from": "now-1h", "to": "now"},
            "panels": panels}


def _panel(title: str, expr: str, legend: str, unit: str = "short") -> dict[str, Any]:
    return {"type": "timeseries", "title": title, "datasource": DATASOURCE,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": "A", "expr": expr, "legendFormat": legend,
                         "datasource": DATASOURCE}]}
