"""How ``carve db split/verify/cutover/rollback`` show their work: progress, tables, JSON lines."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from migration.boundaries.lint import find_violations
from migration.cli.output import console, print_json, whole
from migration.datasplit.cutover import Move
from migration.datasplit.journal import Journal
from migration.datasplit.verify import Verification
from migration.runtime.project import Project


def violations_of(project: Project, module: str) -> list[str]:
    """``file:line rule: message`` for each ``carve lint`` violation of the module."""
    root = project.config.path.parent if project.config.path else None
    return [f"{v.file}:{v.line} {v.rule}: {v.message}"
            for v in find_violations(root).violations if v.module == module]


class RowsPerSecond(ProgressColumn):
    """The copy's speed in rows per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s", style="progress.data.speed")


class SplitProgress:
    """A progress bar (rows, rows/s, ETA) on a terminal; one JSON line per phase with --json."""

    def __init__(self, as_json: bool) -> None:
        self._json = as_json
        self._bar: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> SplitProgress:
        if not self._json and console.is_terminal:
            self._bar = Progress(TextColumn("copying"), BarColumn(), MofNCompleteColumn(),
                                 RowsPerSecond(), TimeRemainingColumn(), console=console)
            self._bar.start()
            self._task = self._bar.add_task("rows", total=None)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def phase(self, journal: Journal) -> None:
        if self._json:
            line = {"phase": journal.phase.value, "module": journal.module,
                    "rows_copied": journal.rows_copied, "rows_total": journal.rows_total,
                    "lag": journal.lag}
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
        elif self._bar is None:
            done = journal.rows_total
            rows = f" ({journal.rows_copied}/{done} rows)" if done else ""
            console.print(f"{journal.module}: {journal.phase.value}{rows}")

    def rows(self, copied: int, total: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=copied, total=total)


def render_verification(result: Verification) -> None:
    """One row per table, then the keys that differ."""
    table = Table(whole("table", [t.table for t in result.tables]), "primary rows",
                  "replica rows", "ranges", "in flight", "differences",
                  title=f"{result.module}: {result.primary} against {result.replica}")
    for check in result.tables:
        style = "green" if not check.differences else "red"
        table.add_row(check.table, str(check.primary_rows), str(check.replica_rows),
                      str(check.ranges), str(check.in_flight),
                      f"[{style}]{len(check.differences)}[/]")
    console.print(table)
    for check in result.tables:
        for difference in check.differences:
            console.print(f"[red]✗[/] {difference.table} key {difference.key}: "
                          f"{difference.kind}")
    verdict = "[green]equal[/]" if result.equal else "[red]different[/]"
    console.print(f"{verdict}: {result.rows} rows compared in {result.seconds:.2f} s")


def render_move(move: Move, done: str, as_json: bool) -> None:
    """What a cut-over or rollback did."""
    verification = move.verification.as_dict() if move.verification else None
    if as_json:
        print_json({"module": move.module, "database": move.to, "freeze_ms": move.freeze_ms,
                    "drained": move.drained, "verification": verification})
        return
    console.print(f"[green]✓[/] {move.module} {done} to {move.to}: writes held "
                  f"{move.freeze_ms:.0f} ms, {move.drained} changes drained under the freeze")
    if move.verification is not None:
        render_verification(move.verification)


def render_splits(rows: list[dict[str, Any]]) -> None:
    """``carve db status``'s splits table."""
    table = Table(whole("module", [str(r["module"]) for r in rows]), "phase", "from", "to",
                  "rows copied", "lag", "last verify", title="splits")
    for row in rows:
        verification = row["verification"]
        verdict = ("—" if not verification else
                   "equal" if verification["equal"] else
                   f"{verification['differences']} differences")
        table.add_row(str(row["module"]), str(row["phase"]), str(row["source"]),
                      str(row["target"]), f"{row['rows_copied']}/{row['rows_total']}",
                      str(row["lag"]), verdict)
    console.print(table)
