"""``carve status``: the six migration steps of every module, with their evidence."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from migration.analysis.report import analyze
from migration.cli.options import ConfigOption, JsonOption
from migration.cli.output import console, print_json
from migration.extraction.extract import DEFAULT_OUT
from migration.runtime.config import CONFIG_FILE
from migration.runtime.errors import ConfigError
from migration.runtime.project import Project
from migration.status.report import SCHEMA, GatewayView, ModuleStatus, State, status

MARKS = {State.DONE: "[green]✓[/]", State.STARTED: "[yellow]◐[/]",
         State.NOT_STARTED: "[dim]·[/]", State.UNKNOWN: "[dim]?[/]"}


def show_status(
    config: ConfigOption = None,
    out: Annotated[Path, typer.Option(
        metavar="DIR", help="Where carve extract wrote the services (its --out).")
    ] = Path(DEFAULT_OUT),
    gateway: Annotated[str | None, typer.Option(
        metavar="URL", show_default=False,
        help="A running gateway's URL, for steps 5 and 6 (default: CARVE_GATEWAY_URL).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Where each module stands in the six steps, with the evidence for each."""
    if config is not None and config.name != CONFIG_FILE:
        # The lint and the analysis read the plan of a folder, by that name.
        raise ConfigError(f"--config {config}: carve status reads a plan named {CONFIG_FILE}")
    with Project.load(config) as project, console.status(
            "reading the evidence: lint, analysis, services, gateway …"):
        analysis = analyze(config.parent if config else None)
        view = GatewayView.read(gateway or os.environ.get("CARVE_GATEWAY_URL"))
        modules = status(project, analysis, view, out)
    if as_json:
        print_json({"schema": SCHEMA, "modules": [m.as_dict() for m in modules]})
        return
    for module in modules:
        console.print(_table(module))


def _table(module: ModuleStatus) -> Table:
    upcoming = module.next_step
    title = (f"{module.module}: next, step {upcoming.number} ({upcoming.name})" if upcoming
             else f"{module.module}: every step done")
    table = Table("step", "", "evidence", title=title, title_justify="left")
    for step in module.steps:
        table.add_row(f"{step.number} {step.name}", MARKS[step.state], step.evidence)
    return table
