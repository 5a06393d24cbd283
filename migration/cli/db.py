"""``carve db …``: each module's schema, and moving a module's rows to a database of its own."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from migration.cli.options import ConfigOption, JsonOption
from migration.cli.output import console, print_json, whole
from migration.cli.split_output import (
    SplitProgress,
    render_move,
    render_splits,
    render_verification,
    violations_of,
)
from migration.datasplit.cutover import (
    DEFAULT_MAX_FREEZE_MS,
    check,
    cutover,
    finish,
    rollback,
    splits,
)
from migration.datasplit.split import DEFAULT_BATCH, resumable, run_split, start_split
from migration.runtime.db import safe_url
from migration.runtime.project import Project

app = typer.Typer(help="Migrate each module's schema; split a module's rows into a database of "
                  "its own, verify, cut over and roll back.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    module: Annotated[str | None, typer.Argument(help="Module to migrate (default: all).")] = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    config: ConfigOption = None,
) -> None:
    """Apply a module's migrations (every module's by default) to its database."""
    with Project.load(config) as project:
        for name in project.upgrade([module] if module else None, revision):
            console.print(f"[green]✓[/] {name} at {revision} in {project.database(name).safe_url}")


@app.command("downgrade")
def downgrade(
    module: Annotated[str, typer.Argument(help="Module to take down.")],
    revision: Annotated[str, typer.Option(help="Target revision.")] = "base",
    config: ConfigOption = None,
) -> None:
    """Take one module's schema down to a revision (``base`` drops its tables)."""
    with Project.load(config) as project:
        name = project.downgrade(module, revision)
        console.print(f"[yellow]↓[/] {name} at {revision} in {project.database(name).safe_url}")


@app.command("status")
def status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show each module's database and schema, and its split if it has one.

    A split shows its phase, rows copied, change-log lag and last verification.
    """
    with Project.load(config) as project:
        moving = {row["module"]: row for row in splits(project)}
        rows = []
        for spec in project.specs.values():
            database, history = project.database(spec.name), project.migrations(spec.name)
            database.ping()
            rows.append({"module": spec.name, "database": database.safe_url,
                         "current": history.current(database.engine), "head": history.head(),
                         "split": moving.get(spec.name)})
    if as_json:
        print_json(rows)
        return
    table = Table(whole("module", [row["module"] for row in rows]), "database", "current",
                  "head", title="module schemas")
    for row in rows:
        style = "green" if row["current"] == row["head"] else "yellow"
        table.add_row(row["module"], row["database"], f"[{style}]{row['current']}[/]", row["head"])
    console.print(table)
    if moving:
        render_splits(list(moving.values()))


SplitModule = Annotated[str, typer.Argument(help="The module whose tables move.")]
MaxFreeze = Annotated[int, typer.Option(
    "--max-freeze-ms", min=10, metavar="MS",
    help="Longest the module's writes may be held; past it nothing is switched.")]


@app.command("split")
def split(
    module: SplitModule,
    to: Annotated[str | None, typer.Option("--to", metavar="URL",
                                           help="The module's new database.")] = None,
    batch: Annotated[int, typer.Option(min=100, metavar="ROWS",
                                       help="Rows per committed chunk.")] = DEFAULT_BATCH,
    force: Annotated[bool, typer.Option(help="Empty the module's tables in the target first.")]
    = False,
    resume: Annotated[bool, typer.Option(help="Continue a split that was stopped.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy a module's rows to a database of its own, online, and keep it caught up.

    Capture triggers log every change from the start; rows are copied in key order
    in committed chunks (--resume continues after the last one); the log is then
    replayed until the copy is ready for `carve db cutover`.
    """
    if (to is None) == (not resume):
        raise typer.BadParameter("pass --to URL to start a split, or --resume to continue one")
    with Project.load(config) as project:
        if resume:
            journal = resumable(project, module)
        else:
            assert to is not None
            journal = start_split(project, module, to, batch=batch, force=force,
                                  lint=lambda name: violations_of(project, name))
        try:
            with SplitProgress(as_json) as report:
                journal = run_split(project, journal, report)
        except KeyboardInterrupt:
            # Every committed chunk stays; the one under way was rolled back.
            console.print(f"[yellow]stopped[/] with {journal.rows_copied} rows copied; continue "
                          f"with carve db split {journal.module} --resume")
            raise typer.Exit(130) from None
    if not as_json:
        console.print(f"[green]✓[/] {journal.module}: {journal.rows_copied} rows copied to "
                      f"{safe_url(journal.target)}, {journal.lag} changes to replay; next: "
                      f"carve db verify {journal.module}, carve db cutover {journal.module}")


@app.command("verify")
def verify(module: SplitModule, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Compare the module's rows on its two databases; exit 1 when a row differs.

    Counts and checksums per key range, bisected down to the keys that differ.
    """
    with Project.load(config) as project:
        result = check(project, module)
    if as_json:
        print_json(result.as_dict())
    else:
        render_verification(result)
    if not result.equal:
        raise typer.Exit(1)


@app.command("cutover")
def cutover_command(module: SplitModule, max_freeze_ms: MaxFreeze = DEFAULT_MAX_FREEZE_MS,
                    config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Switch the module to its new database, holding only its writes, briefly.

    Freeze the module's writes, drain the change log, check the drained rows, switch
    carve.toml, release, verify. Running processes follow without a restart.
    """
    with Project.load(config) as project:
        move = cutover(project, module, max_freeze_ms)
    render_move(move, "cut over", as_json)
    if move.verification is not None and not move.verification.equal:
        raise typer.Exit(1)  # switched, but the check after it found rows that differ


@app.command("rollback")
def rollback_command(module: SplitModule, max_freeze_ms: MaxFreeze = DEFAULT_MAX_FREEZE_MS,
                     config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Take a cut-over module back to its old database, with every write made since."""
    with Project.load(config) as project:
        move = rollback(project, module, max_freeze_ms)
    render_move(move, "rolled back", as_json)


@app.command("finish")
def finish_command(module: SplitModule, config: ConfigOption = None,
                   as_json: JsonOption = False) -> None:
    """Accept a cut-over: the new database stops capturing changes (no rollback after this)."""
    with Project.load(config) as project:
        journal = finish(project, module)
    if as_json:
        print_json({"module": journal.module, "phase": journal.phase.value,
                    "database": safe_url(journal.target)})
        return
    console.print(f"[green]✓[/] {journal.module} finished on {safe_url(journal.target)}: its "
                  "changes are no longer captured; the old database still refuses its writes")
