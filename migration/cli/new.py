"""``carve new module NAME``: a new module to the documented layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from migration.cli.options import ConfigOption, JsonOption
from migration.cli.output import console, print_json
from migration.runtime.config import load_config
from migration.scaffold.new_module import new_module

app = typer.Typer(help="Start something new in the project.", no_args_is_help=True)


@app.command("module")
def create_module(
    name: Annotated[str, typer.Argument(
        metavar="NAME", help="The module's name: lower-case letters, digits, underscores.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate a module to the documented layout and add it to carve.toml.

    Writes its contract, ModuleSpec, service, tables, handlers, README, migration, test.
    """
    made = new_module(load_config(config), name)
    if as_json:
        print_json({"module": made.name, "plan": str(made.plan),
                    "files": [str(path) for path in made.files],
                    "contract_fixtures": made.has_contract_fixtures})
        return
    console.print(f"[green]✓[/] module {name}: {len(made.files)} files, "
                  + escape(f"[modules.{name}] in {made.plan}"), highlight=False)
    for path in made.files:
        console.print(f"  {_shown(path)}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"next: carve db upgrade {name}, then pytest tests/contract/test_{name}.py",
                  highlight=False, markup=False, soft_wrap=True)
    if not made.has_contract_fixtures:
        console.print("  the contract test needs a `binding` fixture in tests/contract/conftest.py "
                      "(the module's local and HTTP bindings, as carve's own conftest gives)",
                      highlight=False, markup=False, soft_wrap=True)


def _shown(path: Path) -> str:
    """A path relative to the current folder when it is below it."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)
