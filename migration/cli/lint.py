"""``carve lint`` and ``carve init``: keep module boundaries; start a carve.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from migration.cli.lint_command import OPTIONS, PATH_HELP, Format, run_command
from migration.cli.output import console

PathArgument = Annotated[Path | None, typer.Argument(help=PATH_HELP, show_default=False)]


def _option(name: str) -> Any:
    """The typer option of one of :data:`OPTIONS` (the lean start reads the same one)."""
    option = OPTIONS[name]
    return typer.Option(*option.flags, help=option.help, show_default=option.show_default)


def lint(
    path: PathArgument = None,
    output: Annotated[Format, _option("output")] = OPTIONS["output"].default,
    baseline: Annotated[Path | None, _option("baseline")] = OPTIONS["baseline"].default,
    update_baseline: Annotated[bool, _option("update_baseline")] = (
        OPTIONS["update_baseline"].default),
    reason: Annotated[str | None, _option("reason")] = OPTIONS["reason"].default,
    strict: Annotated[bool, _option("strict")] = OPTIONS["strict"].default,
    export_importlinter: Annotated[Path | None, _option("export_importlinter")] = (
        OPTIONS["export_importlinter"].default),
    cache: Annotated[bool, _option("cache")] = OPTIONS["cache"].default,
) -> None:
    """Check module boundaries: imports, table ownership, foreign keys, SQL, events.

    Exit 0 when clean, 1 on violations, 2 on usage or configuration errors.
    """
    raise typer.Exit(run_command(path, output, baseline, update_baseline, reason, strict,
                                 export_importlinter, cache))


def init(
    path: PathArgument = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing carve.toml.")] = (
        False),
) -> None:
    """Look at a codebase and write a starting carve.toml for it."""
    from migration.boundaries.init_config import write_starting_config  # not lint's start-up

    written, summary = write_starting_config(path or Path.cwd(), force=force)
    console.print(f"wrote {written}: {summary}")
