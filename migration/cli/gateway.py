"""``carve route …`` (through a running gateway's admin API) and ``carve export …``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from migration.cli.options import JsonOption
from migration.cli.output import console, print_json, whole
from migration.gateway.admin_client import AdminClient
from migration.gateway.admin_views import RouteView, utc_time
from migration.gateway.exporting import export_configuration
from migration.gateway.gateway_settings import parse_services
from migration.gateway.route_changes import RouteChange
from migration.gateway.routes import (
    FallbackOptions,
    Route,
    RouteMode,
    ShadowOptions,
    StickyKey,
    normalized_path,
)
from migration.gateway.store.base import AuditEntry
from migration.runtime.errors import ConfigError

route_app = typer.Typer(help="Read and change the gateway's routes (CARVE_GATEWAY_URL, "
                             "CARVE_ADMIN_TOKEN).", no_args_is_help=True)


@route_app.command("list")
def list_routes(json: JsonOption = False) -> None:
    """Show every route: mode, service, canary percent, live SLO and shadow figures."""
    listing = AdminClient().routes()
    if json:
        print_json(listing.as_json())
        return
    table = Table(title=f"routes (version {listing.version})")
    table.columns.append(whole("prefix", [route.prefix for route in listing.routes]))
    for column in ("mode", "service", "percent", "sticky", "live"):
        table.add_column(column)
    for route in listing.routes:
        table.add_row(route.prefix, route.mode.value, route.service or "-",
                      f"{route.percent:g}%" if route.mode is RouteMode.CANARY else "-",
                      f"{route.sticky.kind}:{route.sticky.name}", _live(route))
    console.print(table)


def _live(route: RouteView) -> str:
    if window := route.slo_window:
        return (f"{window.requests} req, {window.error_rate:.1%} errors, "
                f"p99 {window.p99_ms:.0f} ms")
    if stats := route.shadow_stats:
        return f"{stats.compared} compared, {stats.diff_rate:.1%} differ"
    return ""


@route_app.command("set")
def set_route(
    prefix: Annotated[str, typer.Argument(metavar="PREFIX",
                                          help="Path prefix, e.g. /api/v1/inventory.")],
    mode: Annotated[RouteMode, typer.Option(
        metavar="MODE", help="Where the route's traffic goes: monolith, shadow, canary, "
        "service or retired.")],
    to: Annotated[str | None, typer.Option("--to", metavar="SERVICE",
                                           help="The service (by its --service name).")
                  ] = None,
    percent: Annotated[float | None, typer.Option(min=0, max=100, metavar="N",
                                                  help="Canary share in percent.")] = None,
    sticky_header: Annotated[str | None, typer.Option(
        metavar="HEADER",
        help="Keep users on one side by this header (default X-User-Id).")] = None,
    sticky_cookie: Annotated[str | None, typer.Option(
        metavar="COOKIE", help="Keep users on one side by this cookie instead.")] = None,
    ignore: Annotated[list[str] | None, typer.Option(
        metavar="FIELD",
        help="Shadow: a JSON field to ignore in diffs (dotted, * for any); repeat.")] = None,
    fallback_writes: Annotated[bool | None, typer.Option(
        "--fallback-writes/--reads-only",
        help="Let a failed PUT/DELETE fall back to the monolith; --reads-only (the "
        "default) lets only reads.")
    ] = None,
    reason: Annotated[str, typer.Option(metavar="TEXT", help="Why, for the audit log.")] = "",
    json: JsonOption = False,
) -> None:
    """Change a route's mode live: no restart, requests in flight finish as they started."""
    if sticky_header and sticky_cookie:
        raise typer.BadParameter("give --sticky-header or --sticky-cookie, not both")
    sticky = (StickyKey(kind="cookie", name=sticky_cookie) if sticky_cookie
              else StickyKey(kind="header", name=sticky_header) if sticky_header else None)
    change = RouteChange(
        prefix=prefix, mode=mode, service=to, percent=percent, sticky=sticky, reason=reason,
        shadow=ShadowOptions(ignore_fields=tuple(ignore)) if ignore else None,
        fallback=None if fallback_writes is None else FallbackOptions(
            idempotent_writes=fallback_writes))
    _report(AdminClient().set_route(change), json)


@route_app.command("rollback")
def rollback(
    prefix: Annotated[str, typer.Argument(help="Path prefix of the route.")],
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
    json: JsonOption = False,
) -> None:
    """Send the route's traffic back to the monolith at once."""
    _report(AdminClient().rollback(prefix, reason), json)


@route_app.command("diffs")
def diffs(
    prefix: Annotated[str, typer.Argument(help="Path prefix of a shadowed route.")],
    json: JsonOption = False,
) -> None:
    """Shadow comparison of a route: diff rate and the latest differing requests."""
    prefix = normalized_path(prefix)  # as the gateway keys it: /a/b/ is /a/b
    report = AdminClient().diffs(prefix).get(prefix)
    if json:
        print_json(report.model_dump(mode="json") if report else {})
        return
    if not report:
        console.print(f"no shadow comparisons for {prefix} on this gateway yet")
        return
    console.print(f"{report.compared} compared, {report.differed} differ "
                  f"({report.diff_rate:.1%}), service failed {report.service_failed}, "
                  f"dropped {report.dropped}")
    table = Table("when", "request", "monolith", "service", "differences")
    for sample in report.samples or []:
        table.add_row(utc_time(sample.at), f"{sample.method} {sample.path}",
                      str(sample.monolith_status), str(sample.service_status or "failed"),
                      ", ".join(sample.differences))
    console.print(table)


@route_app.command("audit")
def audit(
    prefix: Annotated[str | None, typer.Argument(help="Only this route.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many entries.")] = 50,
    json: JsonOption = False,
) -> None:
    """Every change of the routes: when, old, new, why, and whether automatic."""
    entries = AdminClient().audit(prefix and normalized_path(prefix), limit)
    if json:
        print_json([entry.model_dump(mode="json") for entry in entries])
        return
    table = Table("when", whole("prefix", [entry.prefix for entry in entries]),
                  "old", "new", "reason", "by")
    for entry in entries:
        table.add_row(utc_time(entry.at), entry.prefix, _mode(entry.old), _mode(entry.new),
                      _reason(entry), "gateway" if entry.automatic else "person")
    console.print(table)


def _reason(entry: AuditEntry) -> str:
    """The reason, and under it what the canary's window showed when the change was made."""
    seen = entry.evidence
    if not seen:
        return entry.reason
    return (f"{entry.reason}\n[dim]canary window: {seen.requests} req, "
            f"{seen.error_rate:.1%} errors, p99 {seen.p99_ms:.0f} ms[/]")


def _report(entry: AuditEntry, json: bool) -> None:
    if json:
        print_json(entry.model_dump(mode="json"))
        return
    console.print(f"[green]{entry.prefix}[/]: {_mode(entry.old)} → {_mode(entry.new)}"
                  f" (version {entry.version})")


def _mode(route: Route | None) -> str:
    if route is None:
        return "-"
    if route.mode is RouteMode.CANARY:
        return f"canary {route.percent:g}% → {route.service}"
    towards = route.mode is not RouteMode.MONOLITH and route.service
    return route.mode.value + (f" → {route.service}" if towards else "")


export_app = typer.Typer(help="The gateway's route table as NGINX, Envoy or Kubernetes "
                              "Gateway API configuration.", no_args_is_help=True)
RoutesOption = Annotated[str, typer.Option(envvar="CARVE_ROUTES",
                                           help="Route store: a JSON file or redis://…")]
MonolithOption = Annotated[str, typer.Option(envvar="CARVE_MONOLITH_URL",
                                             help="The monolith's URL.")]
ServiceOption = Annotated[list[str] | None, typer.Option(metavar="NAME=URL",
                                                        help="A service; repeat.")]
ListenOption = Annotated[int, typer.Option(min=1, max=65535,
                                           help="Port the proxy listens on.")]
OutputOption = Annotated[Path | None, typer.Option("--output", "-o",
                                                   help="Write to this file, not stdout.")]


EXPORTS = {
    "nginx": "NGINX http-context config: split_clients canaries, mirror shadows, monolith "
             "backup.",
    "envoy": "Envoy bootstrap: weighted clusters, request mirrors, outlier detection.",
    "httproute": "Kubernetes Gateway API HTTPRoute: backend weights and RequestMirror filters.",
}


def _export_command(target: str):
    """``carve export TARGET``: every target takes the same options."""

    def export(routes: RoutesOption = "routes.json",
               monolith: MonolithOption = "http://127.0.0.1:8000",
               service: ServiceOption = None, listen: ListenOption = 8080,
               output: OutputOption = None) -> None:
        _export(target, routes, monolith, service, listen, output)

    export.__doc__ = EXPORTS[target]
    return export


for _target in EXPORTS:
    export_app.command(_target)(_export_command(_target))


def _export(target: str, routes: str, monolith: str, service: list[str] | None, listen: int,
            output: Path | None) -> None:
    text = export_configuration(target, routes, monolith, parse_services(service or []), listen)
    if output is None:
        print(text, end="")
        return
    try:
        output.write_text(text)
    except OSError as exc:
        raise ConfigError(f"--output {output}: cannot write: {exc.strerror or exc}") from exc
    console.print(f"[green]wrote[/] {output}")
