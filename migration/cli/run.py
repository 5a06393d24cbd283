"""``carve run …``: start the processes of the system."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import uvicorn

from migration.cli.options import ConfigOption, PortOption
from migration.cli.process_logs import announce, start_logs, uvicorn_logging
from migration.runtime.errors import ConfigError
from migration.runtime.remote import binding_plan
from migration.runtime.serving import check_can_listen
from migration.runtime.settings import Settings

MetricsPortOption = Annotated[int | None, typer.Option(
    min=1, max=65535, metavar="PORT",
    help="Serve /metrics here: outbox backlog, relay lag, dead letters.")]

if TYPE_CHECKING:
    from collections.abc import Callable

    from migration.events.processes import WorkerProcess
    from migration.runtime.broker import BrokerSettings
    from migration.runtime.relay import Relay

app = typer.Typer(help="Run the monolith, extracted services, the gateway or event workers.",
                  no_args_is_help=True)


@app.command("monolith")
def run_monolith(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: PortOption = 8000,
    reload: Annotated[bool, typer.Option(help="Restart when the code changes.")] = False,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before serving.")] = True,
) -> None:
    """Serve the monolith: every local module's contract, /healthz, /readyz, /docs."""
    start_logs()
    settings = Settings.from_env(config)
    plan = binding_plan(settings.project)  # refuses a plan the monolith cannot run
    check_can_listen(host, port)  # before migrating: a busy port is one line, not a log
    if migrate and plan.local:
        done = settings.project.upgrade(plan.local)  # a remote module's tables are not ours
        announce(f"[green]migrated[/] {', '.join(done)}")
        settings.project.close()
    if config:
        # uvicorn builds the app in its own import (and, with --reload, its own process).
        import os

        os.environ["CARVE_CONFIG"] = str(config)
    uvicorn.run("monolith.app:create_app_from_env", factory=True, host=host, port=port,
                reload=reload, log_level="info", **uvicorn_logging())


class DataPlane(enum.StrEnum):
    """What carries the gateway's traffic."""

    carve = "carve"
    nginx = "nginx"


@app.command("gateway")
def run_gateway(
    host: Annotated[str, typer.Option(metavar="HOST", help="Interface to listen on.")
                    ] = "127.0.0.1",
    port: PortOption = 8080,
    monolith: Annotated[str, typer.Option(envvar="CARVE_MONOLITH_URL", metavar="URL",
                                          help="The monolith's URL.")] = "http://127.0.0.1:8000",
    service: Annotated[list[str] | None, typer.Option(
        metavar="NAME=URL", help="A service; repeat for each.")] = None,
    routes: Annotated[str, typer.Option(envvar="CARVE_ROUTES", metavar="FILE|URL",
                                        help="Route store: a JSON file, or redis://…[?prefix=P].")
                      ] = "routes.json",
    max_body_mb: Annotated[int, typer.Option(min=1, metavar="MIB",
                                             help="Largest request body (413 above).")] = 256,
    workers: Annotated[int | None, typer.Option(
        min=1, max=256, metavar="N", show_default=False,
        help="Worker processes sharing the port (SO_REUSEPORT), one core each; each keeps "
             "its own breakers and canary windows, the metrics add them up (default: 1). "
             "With --engine nginx: NGINX's worker processes (default: one per core this "
             "process may run on, as NGINX's 'auto').")] = None,
    engine: Annotated[DataPlane, typer.Option(
        help="The data plane: carve's own (Python), or NGINX run and steered by carve "
             "(reloaded on every route change; its access log feeds carve's metrics and "
             "canary SLOs; admin API, shadow and retired routes still served by carve).")
                  ] = DataPlane.carve,
    nginx: Annotated[str | None, typer.Option(
        metavar="PATH", help="The NGINX binary for --engine nginx (default: found on PATH "
                             "or in /usr/sbin).")] = None,
    engine_dir: Annotated[str | None, typer.Option(
        metavar="DIR", help="For --engine nginx: where its configuration, pid, logs and "
                            "temporary files go (default: a new temporary folder, removed "
                            "at the end).")] = None,
) -> None:
    """Serve the strangler-fig gateway in front of the monolith and the services."""
    from migration.gateway.gateway_settings import (
        GatewaySettings,
        admin_token_from_env,
        parse_services,
    )
    from migration.gateway.process import serve_nginx
    from migration.gateway.workers import serve_workers
    from migration.runtime.tracing import configure_tracing

    start_logs()
    settings = GatewaySettings(monolith_url=monolith, services=parse_services(service or []),
                               routes=routes, admin_token=admin_token_from_env(),
                               max_body_bytes=max_body_mb * 1024 * 1024,
                               traced=configure_tracing("gateway"))
    if engine is DataPlane.nginx:
        serve_nginx(settings, host, port, workers=workers or _cores(),
                    binary=nginx, folder=engine_dir)
    else:
        serve_workers(settings, host, port, workers or 1)


def _cores() -> int:
    """The cores this process may run on (its affinity, where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@app.command("relay")
def run_relay(
    config: ConfigOption = None,
    module: Annotated[list[str] | None, typer.Option(
        "--module", "-m", help="Relay only this module's outbox (repeatable).")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Outbox rows per batch.")] = 500,
    path: Annotated[Path | None, typer.Option(
        help="Relay the outbox of the extracted service in this folder instead "
             "(e.g. extracted/orders-service), from its own database.",
    )] = None,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Move undelivered outbox rows of queue-transport events to the broker, until stopped."""
    from migration.events.processes import stop_on_signals
    from migration.runtime.tracing import configure_tracing

    _quiet_logs()
    configure_tracing("relay")
    if path is not None:
        if module:
            raise ConfigError("--path relays the service's own outbox: leave out --module")
        relay, broker_settings, close = _service_relay(path, config, batch)
    else:
        from migration.events.processes import broker_for, build_relay

        project = Settings.from_env(config).project
        broker, broker_settings = broker_for(project)
        relay, close = build_relay(project, broker, module, batch_size=batch), project.close
    if metrics_port:
        _serve_metrics(metrics_port, outboxes=relay.outboxes)
    announce(f"[green]relay[/] {', '.join(relay.outboxes)} → {broker_settings.safe_url} "
                  f"(namespace {broker_settings.namespace})")
    try:
        relay.run(stop_on_signals())
    finally:
        close()
    announce(f"relay stopped: {relay.stats.rows} rows, {relay.stats.messages} messages")


def _service_relay(path: Path, config: Path | None,
                   batch: int) -> tuple[Relay, BrokerSettings, Callable[[], None]]:
    """The relay of an extracted service: its outbox, its database; no monolith project."""
    import os

    from migration.events.processes import build_service_relay
    from migration.extraction.running import service_relay_root

    service = service_relay_root(path).relay()
    relay, broker_settings = build_service_relay(
        service, str(config) if config else None, dict(os.environ), batch)
    return relay, broker_settings, service.close


@app.command("worker")
def run_worker(
    config: ConfigOption = None,
    module: Annotated[list[str] | None, typer.Option(
        "--module", "-m", help="Run only this module's subscribers (repeatable).")] = None,
    threads: Annotated[int, typer.Option(min=1, help="Worker threads.")] = 8,
    root: Annotated[str | None, typer.Option(
        help="Composition root building the consumers, package.module:function "
             "(default: monolith.bootstrap:bootstrap).")] = None,
    path: Annotated[Path | None, typer.Option(
        help="Run the subscribers of the extracted service in this folder instead "
             "(e.g. extracted/inventory-service); its dead letters stay in its database.",
    )] = None,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Run the subscribers of queue-transport events as dramatiq workers, until stopped."""
    from migration.events.processes import DEFAULT_ROOT, stop_on_signals
    from migration.runtime.tracing import configure_tracing

    _quiet_logs()
    configure_tracing("worker")
    if path is not None:
        if module or root:
            raise ConfigError("--path runs the service's own subscribers: "
                              "leave out --module and --root")
        process = _service_worker(path, config, threads)
    else:
        from migration.events.processes import build_worker

        process = build_worker(Settings.from_env(config), module, root or DEFAULT_ROOT, threads)
    if metrics_port:
        _serve_metrics(metrics_port, dead_letters=process.worker.dead_letters)
    announce(f"[green]worker[/] {', '.join(sorted(process.worker.queues)) or 'no queues'}")
    try:
        process.worker.run(stop_on_signals())
    finally:
        process.close()
    announce("worker stopped")


def _service_worker(path: Path, config: Path | None, threads: int) -> WorkerProcess:
    """The worker of an extracted service: no monolith project is loaded."""
    import os

    from migration.events.processes import build_service_worker
    from migration.extraction.running import service_worker_root

    app = service_worker_root(path)
    return build_service_worker(app.worker(), str(config) if config else None,
                                dict(os.environ), threads)


def _serve_metrics(port: int, **stores: Any) -> None:
    from migration.events.metrics import EventMetrics, serve_event_metrics

    check_can_listen("0.0.0.0", port)
    serve_event_metrics(port, EventMetrics(**stores))


def _quiet_logs() -> None:
    import logging

    start_logs("WARNING")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
