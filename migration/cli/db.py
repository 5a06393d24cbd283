"""``carve db …``: each module's schema and, later, its own database."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from migration.cli.options import ConfigOption, JsonOption
from migration.cli.output import console, print_json, whole
from migration.runtime.project import Project

app = typer.Typer(help="Migrate each module's schema in its own database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    module: Annotated[str | None, typer.Argument(help="Module to migrate (default: all).")] = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    config: ConfigOption = None,
) -> None:
    """Apply a module's migrations (every module's by default) to its database."""
    project = Project.load(config)
    try:
        for name in project.upgrade([module] if module else None, revision):
            console.print(f"[green]✓[/] {name} at {revision} in {project.database(name).safe_url}")
    finally:
        project.close()


@app.command("downgrade")
def downgrade(
    module: Annotated[str, typer.Argument(help="Module to take down.")],
    revision: Annotated[str, typer.Option(help="Target revision.")] = "base",
    config: ConfigOption = None,
) -> None:
    """Take one module's schema down to a revision (``base`` drops its tables)."""
    project = Project.load(config)
    try:
        database = project.database(project.module(module).name)
        database.ping()
        project.migrations(module).downgrade(database.engine, revision)
        console.print(f"[yellow]↓[/] {module} at {revision} in {database.safe_url}")
    finally:
        project.close()


@app.command("status")
def status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show each module's database and where its schema is against its newest migration."""
    project = Project.load(config)
    try:
        rows = []
        for spec in project.specs.values():
            database, history = project.database(spec.name), project.migrations(spec.name)
            database.ping()
            rows.append({"module": spec.name, "database": database.safe_url,
                         "current": history.current(database.engine), "head": history.head()})
    finally:
        project.close()
    if as_json:
        print_json(rows)
        return
    table = Table(whole("module", [row["module"] for row in rows]), "database", "current",
                  "head", title="module schemas")
    for row in rows:
        style = "green" if row["current"] == row["head"] else "yellow"
        table.add_row(row["module"], row["database"], f"[{style}]{row['current']}[/]", row["head"])
    console.print(table)
