"""``carve analyze``: coupling per module, readiness, and which module to extract first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from migration.analysis.cochange import SINCE_FORMAT
from migration.analysis.report import Analysis
from migration.analysis.report import analyze as run_analysis
from migration.cli.lint import PathArgument
from migration.cli.options import JsonOption
from migration.cli.output import console, print_json, whole


def analyze(
    path: PathArgument = None,
    as_json: JsonOption = False,
    graph: Annotated[Path | None, typer.Option(
        "--graph", help="Write the module graph: .svg, .mmd/.mermaid or .dot/.gv.",
        show_default=False)] = None,
    since: Annotated[str | None, typer.Option(
        help=f"Count git co-change from this date: {SINCE_FORMAT}.",
        show_default=False)] = None,
) -> None:
    """Per module: calls, events, tables, violations, co-change, size, readiness; the order."""
    analysis = run_analysis(path, since, graph)
    if as_json:
        print_json({**analysis.as_dict(), "graph": str(graph) if graph else None})
        return
    _render(analysis)
    if graph:
        console.print(f"wrote {graph}")


def _render(analysis: Analysis) -> None:
    data = analysis.as_dict()
    table = Table(whole("module", [m["name"] for m in data["modules"]]), "ready", "calls",
                  "called by", "events out / in", "tables", "violations", "commits", "lines",
                  title="coupling and readiness")
    for m in data["modules"]:
        events = (f"{', '.join(m['publishes']) or '-'} / "
                  f"{', '.join(c['event'] for c in m['consumes']) or '-'}")
        table.add_row(
            m["name"], str(m["readiness"]), ", ".join(m["calls"]) or "-",
            ", ".join(m["called_by"]) or "-", events, str(len(m["tables"])),
            str(len(m["violations"])), str(m["cochange"]["commits"]), str(m["size"]["lines"]),
        )
    console.print(table)
    console.print("[bold]extraction order[/] (least coupled first):")
    for position, readiness in enumerate(analysis.order, 1):
        console.print(f"  {position}. [bold]{readiness.module}[/] {readiness.score}/100: "
                      f"{'; '.join(readiness.reasons)}", highlight=False)
