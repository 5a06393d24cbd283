"""``carve lint``'s options, declared once, its work, and its lean start.

:data:`OPTIONS` is the one declaration of the command's options: the typer command in
:mod:`migration.cli.lint` builds its parameters from it (``--help`` is typer's), and
:func:`lean_lint` reads the arguments of a plain ``carve lint`` with it, without
importing typer, click or rich, which cost more than a run served from the cache.
Anything it does not read exactly as typer would (``--help``, an unknown or repeated
option, a missing or invalid value, ``-fjson``...) it leaves to typer, which then reports
it as usual. Both run :func:`run_command`: the same output and the same exit code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migration.runtime.errors import ConfigError

PATH_HELP = "The codebase: the folder holding carve.toml (default: here)."


class Format(enum.StrEnum):
    """Output formats of ``carve lint``."""

    text = "text"
    json = "json"
    github = "github"


@dataclass(frozen=True)
class Option:
    """One option of ``carve lint``: its parameter, its flags, its type and default.

    A bool option is a flag (``--strict``) or a pair of them (``--cache/--no-cache``);
    any other takes one value (``--format json``, ``--format=json``, ``-f json``).
    """

    name: str
    flags: tuple[str, ...]
    kind: type
    default: Any
    help: str
    show_default: bool = True

    def values(self) -> dict[str, Any]:
        """Each flag of the option and the value it sets (None: the value follows)."""
        if self.kind is not bool:
            return dict.fromkeys(self.flags)
        on, _, off = self.flags[0].partition("/")
        return {on: True, off: False} if off else {on: True}


OPTIONS: dict[str, Option] = {option.name: option for option in (
    Option("output", ("--format", "-f"), Format, Format.text, "text, json or github."),
    Option("baseline", ("--baseline",), Path, None,
           "Known violations with reasons (default: carve-baseline.toml if present).",
           show_default=False),
    Option("update_baseline", ("--update-baseline",), bool, False,
           "Write every current violation to the baseline."),
    Option("reason", ("--reason",), str, None,
           "Why new baseline entries are accepted (with --update-baseline)."),
    Option("strict", ("--strict",), bool, False, "Fail on stale baseline entries too."),
    Option("export_importlinter", ("--export-importlinter",), Path, None,
           "Write the equivalent import-linter config and exit.", show_default=False),
    Option("cache", ("--cache/--no-cache",), bool, True,
           "Reuse the last run's findings while no file changed (kept in .carve/cache/lint)."),
)}


def lean_lint(argv: list[str]) -> int | None:
    """Run ``carve lint`` if ``argv`` is one it reads exactly as typer would; else None."""
    if not argv or argv[0] != "lint":
        return None
    parsed = _parse(argv[1:])
    return None if parsed is None else run_command(**parsed)


def _parse(args: list[str]) -> dict[str, Any] | None:
    flags = {flag: (option, value) for option in OPTIONS.values()
             for flag, value in option.values().items()}
    found: dict[str, Any] = {}
    rest = iter(args)
    for arg in rest:
        if not arg.startswith("-") and "path" not in found:
            found["path"] = Path(arg)
            continue
        flag, equals, given = arg.partition("=")
        option, value = flags.get(flag if arg.startswith("--") else arg, (None, None))
        if option is None or option.name in found or (equals and value is not None):
            return None  # unknown, repeated, a flag given a value, a second path: typer's
        if value is None:
            given = given if equals else next(rest, None)
            if given is None or given.startswith("-"):
                return None
            value = _value(option, given)
            if value is None:
                return None
        found[option.name] = value
    return {name: found.get(name, option.default) for name, option in OPTIONS.items()} | {
        "path": found.get("path")}


def _value(option: Option, given: str) -> Any:
    if option.kind is Format:
        return Format(given) if given in Format.__members__ else None
    return option.kind(given)


def run_command(path: Path | None, output: Format, baseline: Path | None,
                update_baseline: bool, reason: str | None, strict: bool,
                export_importlinter: Path | None, cache: bool) -> int:
    """Check the codebase at ``path`` and print the report; the exit code."""
    if reason is not None and not update_baseline:
        raise ConfigError("--reason explains new baseline entries: use it with --update-baseline")
    if export_importlinter:
        from migration.boundaries.lint import export_importlinter as export_rules
        from migration.cli.output import console

        written, source = export_rules(path, export_importlinter)
        console.print(f"wrote {written} (run `lint-imports {written}` from {source})")
        return 0
    from migration.boundaries.lint import run_lint

    report = run_lint(path, baseline=baseline, strict=strict,
                      update_baseline=update_baseline, reason=reason, cache=cache,
                      parallel=True)
    if output is Format.json:
        from migration.boundaries.formats import report_json
        from migration.cli.output import print_json

        print_json(report_json(report))
    elif output is Format.github:
        from migration.boundaries.formats import report_github

        for line in report_github(report):
            print(line)
    else:
        from migration.boundaries.formats import report_text
        from migration.cli.output import console

        report_text(report, console)
    if update_baseline:
        from migration.cli.output import console, errors

        where = console if output is Format.text else errors
        if report.baseline_written is None:
            where.print("no violations: nothing to baseline (no baseline file written)")
        else:
            where.print(f"wrote {report.baseline_written}: {len(report.baselined)} baselined "
                        "violation(s)", highlight=False)
    return report.exit_code
