"""How a lint report is shown: rich text for people, JSON for machines, GitHub annotations.

The JSON document (``"schema": "carve.lint/1"``) is described in the README.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from migration.boundaries.model import RULES, LintReport

if TYPE_CHECKING:  # rich only for text: JSON and annotations never import it
    from rich.console import Console

SCHEMA = "carve.lint/1"


def report_json(report: LintReport) -> dict[str, Any]:
    """The report as one JSON-ready document."""
    return {
        "schema": SCHEMA,
        "root": report.root,
        "modules": report.modules,
        "passed": not report.failed,
        "exit_code": report.exit_code,
        "counts": {
            "violations": len(report.violations),
            "baselined": len(report.baselined),
            "stale": len(report.stale),
        },
        "violations": [v.as_dict() for v in report.violations],
        "baselined": [v.as_dict() for v in report.baselined],
        "stale": [
            {"rule": s.rule, "module": s.module, "file": s.file, "key": s.key, "reason": s.reason}
            for s in report.stale
        ],
    }


def report_github(report: LintReport) -> list[str]:
    """GitHub Actions workflow commands: one annotation per violation, on its line."""
    lines = [
        f"::error file={v.file},line={v.line},title={_escape(v.rule)}::"
        f"{_escape(v.message + '. Fix: ' + v.hint)}"
        for v in report.violations
    ]
    level = "error" if report.strict else "warning"
    lines += [
        f"::{level} file={s.file},title=stale baseline entry::"
        f"{_escape(f'{s.rule} no longer occurs: remove it from the baseline ({s.key})')}"
        for s in report.stale
    ]
    return lines


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def report_text(report: LintReport, console: Console) -> None:
    """Each violation with its place, rule, module and fix, then one summary line."""
    from rich.markup import escape

    for v in report.violations:
        console.print(f"[bold]{v.file}:{v.line}[/] [red]{v.rule}[/] [dim]({v.module})[/]",
                      highlight=False)
        console.print(f"  {v.message}", highlight=False, markup=False)
        console.print(f"  [dim]fix: {escape(v.hint)}[/]", highlight=False)
    for entry in report.stale:
        console.print(f"[yellow]stale baseline entry[/] {entry.rule} {entry.file}: {entry.key}",
                      highlight=False)
    console.print(_summary(report), highlight=False)


def _summary(report: LintReport) -> str:
    counts = (f"{len(report.modules)} modules, {len(RULES)} rules: "
              f"{len(report.violations)} violation(s), {len(report.baselined)} baselined, "
              f"{len(report.stale)} stale")
    return f"[bold red]✗ {counts}[/]" if report.failed else f"[bold green]✓ {counts}[/]"
