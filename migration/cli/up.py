"""``carve up``: run the whole plan on this machine, with a live table and prefixed logs."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from migration.cli.options import ConfigOption, JsonOption, PortOption
from migration.cli.output import console

COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan")
HEALTH = {"ready": "green", "running": "green", "starting": "yellow", "waiting": "dim",
          "not ready": "red", "backing off": "red", "stopped": "dim"}


def up(
    config: ConfigOption = None,
    port: PortOption = 8000,
    extracted: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Where the extracted services are (default: extracted/ beside "
                            "carve.toml).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Run every process of the plan here, restart crashed ones; Ctrl-C stops them in order.

    The monolith on PORT, the services of remote modules, relays and workers, a gateway.
    """
    from migration.deploy.up import plan_processes
    from migration.deploy.up import up as bring_up
    from migration.events.processes import stop_on_signals

    processes, folder = plan_processes(config, port, extracted)  # refusals before any start
    stop = stop_on_signals()
    if json_output:
        lock = threading.Lock()

        def emit(event: dict[str, Any]) -> None:
            with lock:
                print(json.dumps(event), flush=True)

        bring_up(processes, folder, emit, stop, lambda _s: None)
        return
    _live(processes, folder, stop)


def _live(processes: list[Any], folder: Path, stop: threading.Event) -> None:
    from migration.deploy.up import up as bring_up

    rows: list[dict[str, Any]] = []
    colours: dict[str, str] = {}
    with Live(console=console, refresh_per_second=2, transient=False,
              get_renderable=lambda: _table(rows)) as live:

        def emit(event: dict[str, Any]) -> None:
            name = event["process"]
            colour = colours.setdefault(name, COLOURS[len(colours) % len(COLOURS)])
            text = event.get("line") if event["event"] == "log" else _describe(event)
            live.console.print(f"[{colour}]{escape(name)} |[/] {escape(text or '')}",
                               highlight=False, soft_wrap=True)

        def refresh(supervisor: Any) -> None:
            rows[:] = supervisor.rows()

        bring_up(processes, folder, emit, stop, refresh)


def _describe(event: dict[str, Any]) -> str:
    kind = event["event"]
    if kind == "started":
        return f"started (pid {event['pid']})"
    if kind == "exited":
        return (f"exited with {event['code']}; restart {event['restarts']} "
                f"in {event['restart_in']} s")
    if kind == "health":
        return event["health"]
    return f"stopped ({event['code']})"


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table("process", "URL", "health", "restarts", "pid", title="carve up")
    for row in rows:
        colour = HEALTH.get(row["health"], "white")
        table.add_row(row["process"], row["url"] or "", f"[{colour}]{row['health']}[/]",
                      str(row["restarts"]), str(row["pid"] or ""))
    return table
