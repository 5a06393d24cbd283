"""The ``carve`` typer application: every command group is registered here."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from migration import __version__
from migration.cli import analyze, db, events, extract, gateway, lint, modules, run
from migration.cli.database_errors import (
    DATABASE_FAILURES,
    describe_database_failure,
    remember_database_urls,
)
from migration.cli.output import report_error
from migration.runtime.errors import CarveError

app = typer.Typer(
    name="carve",
    help="Take a modular monolith apart into services, one module at a time.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
# In the order of the migration: look, keep the boundaries, extract, move events and traffic.
app.command("modules")(modules.list_modules)
app.command("init")(lint.init)
app.command("lint")(lint.lint)
app.command("analyze")(analyze.analyze)
app.add_typer(db.app, name="db")
app.command("extract")(extract.extract_module)
app.add_typer(events.app, name="events")
app.add_typer(gateway.route_app, name="route")
app.add_typer(gateway.export_app, name="export")
app.add_typer(run.app, name="run")
run.app.command("service")(extract.run_service)


def _version(value: bool) -> None:
    if value:
        print(f"carve {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True,
                           help="Print carve's version and exit.")
    ] = False,
) -> None:
    """Take a modular monolith apart into services, one module at a time."""


def main() -> None:
    """Console entry point: a user's error is one line on stderr and a non-zero exit."""
    remember_database_urls()
    try:
        app()
    except CarveError as exc:
        report_error(str(exc))
        sys.exit(exc.exit_code)
    except DATABASE_FAILURES as exc:  # no command anticipated it: one line, not a traceback
        report_error(describe_database_failure(exc))
        sys.exit(1)
