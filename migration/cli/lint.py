"""``carve lint`` and ``carve init``: keep module boundaries; start a carve.toml."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from migration.boundaries.formats import report_github, report_json, report_text
from migration.boundaries.lint import export_importlinter as export_rules
from migration.boundaries.lint import run_lint
from migration.boundaries.model import LintReport
from migration.cli.output import console, errors, print_json
from migration.runtime.errors import ConfigError

PathArgument = Annotated[
    Path | None,
    typer.Argument(help="The codebase: the folder holding carve.toml (default: here).",
                   show_default=False),
]


class Format(enum.StrEnum):
    """Output formats of ``carve lint``."""

    text = "text"
    json = "json"
    github = "github"


def lint(
    path: PathArgument = None,
    output: Annotated[Format, typer.Option("--format", "-f", help="text, json or github.")] = (
        Format.text),
    baseline: Annotated[Path | None, typer.Option(
        help="Known violations with reasons (default: carve-baseline.toml if present).",
        show_default=False)] = None,
    update_baseline: Annotated[bool, typer.Option(
        "--update-baseline", help="Write every current violation to the baseline.")] = False,
    reason: Annotated[str | None, typer.Option(
        help="Why new baseline entries are accepted (with --update-baseline).")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail on stale baseline entries too.")] = False,
    export_importlinter: Annotated[Path | None, typer.Option(
        "--export-importlinter", help="Write the equivalent import-linter config and exit.",
        show_default=False)] = None,
    cache: Annotated[bool, typer.Option(
        "--cache/--no-cache", help="Reuse the last run's findings while no file changed "
        "(kept in .carve/cache/lint).")] = True,
) -> None:
    """Check module boundaries: imports, table ownership, foreign keys, SQL, events.

    Exit 0 when clean, 1 on violations, 2 on usage or configuration errors.
    """
    if reason is not None and not update_baseline:
        raise ConfigError("--reason explains new baseline entries: use it with --update-baseline")
    if export_importlinter:
        written, source = export_rules(path, export_importlinter)
        console.print(f"wrote {written} (run `lint-imports {written}` from {source})")
        return
    report = run_lint(path, baseline=baseline, strict=strict,
                      update_baseline=update_baseline, reason=reason, cache=cache)
    if output is Format.json:
        print_json(report_json(report))
    elif output is Format.github:
        for line in report_github(report):
            print(line)
    else:
        report_text(report, console)
    if update_baseline:
        _report_baseline(report, console if output is Format.text else errors)
    raise typer.Exit(report.exit_code)


def _report_baseline(report: LintReport, where: Console) -> None:
    """What --update-baseline did (on stderr after JSON or annotations: stdout stays theirs)."""
    if report.baseline_written is None:
        where.print("no violations: nothing to baseline (no baseline file written)")
    else:
        where.print(f"wrote {report.baseline_written}: {len(report.baselined)} baselined "
                    "violation(s)", highlight=False)


def init(
    path: PathArgument = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing carve.toml.")] = (
        False),
) -> None:
    """Look at a codebase and write a starting carve.toml for it."""
    from migration.boundaries.init_config import write_starting_config  # not lint's start-up

    written, summary = write_starting_config(path or Path.cwd(), force=force)
    console.print(f"wrote {written}: {summary}")
