"""The ``carve`` typer application: every command and command group is listed here.

``carve`` starts in :mod:`migration.cli.app`, which imports this module (typer, click and
rich) for every run but a plain ``carve lint``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any

import click
import typer
import typer.main
from typer.core import TyperGroup

from migration import __version__


def _imported(module: str, attribute: str) -> Callable[[], Any]:
    return lambda: getattr(importlib.import_module(module), attribute)


@cache
def _run_group() -> typer.Typer:
    from migration.cli import extract, run

    run.app.command("service")(extract.run_service)
    return run.app


@cache
def _export_group() -> typer.Typer:
    from migration.cli import deploy, gateway

    gateway.export_app.command("compose")(deploy.export_compose)
    gateway.export_app.command("k8s")(deploy.export_k8s)
    gateway.export_app.info.help = ("The route table as NGINX, Envoy or Gateway API "
                                    "configuration; the whole plan as compose or Kubernetes.")
    return gateway.export_app


# In the order of the migration: look, keep the boundaries, extract, move events and traffic.
# Each command's code is imported only when it runs (or when --help lists it), so that
# `carve lint` does not pay for FastAPI, dramatiq and libcst.
COMMANDS: dict[str, Callable[[], Any]] = {
    "modules": _imported("migration.cli.modules", "list_modules"),
    "new": _imported("migration.cli.new", "app"),
    "init": _imported("migration.cli.lint", "init"),
    "lint": _imported("migration.cli.lint", "lint"),
    "analyze": _imported("migration.cli.analyze", "analyze"),
    "db": _imported("migration.cli.db", "app"),
    "extract": _imported("migration.cli.extract", "extract_module"),
    "events": _imported("migration.cli.events", "app"),
    "route": _imported("migration.cli.gateway", "route_app"),
    "export": _export_group,
    "run": _run_group,
    "status": _imported("migration.cli.status", "show_status"),
    "up": _imported("migration.cli.up", "up"),
}

# Commands that open no database: they skip importing SQLAlchemy (a third of `carve lint`'s
# start-up), which naming the database in an unanticipated error needs.
NO_DATABASE = frozenset({"init", "lint"})


class LazyCommands(TyperGroup):
    """The root group: lists :data:`COMMANDS` and builds one only when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        load = COMMANDS.get(cmd_name)
        if load is None:
            return None
        if cmd_name not in NO_DATABASE:
            from migration.cli.database_errors import remember_database_urls

            remember_database_urls()
        target = load()
        if isinstance(target, typer.Typer):
            command: click.Command = typer.main.get_group(target)
        else:
            single = typer.Typer(add_completion=False)  # offered once, by `carve` itself
            single.command(cmd_name)(target)
            command = typer.main.get_command(single)
        command.name = cmd_name
        return command


app = typer.Typer(
    name="carve",
    help="Take a modular monolith apart into services, one module at a time.",
    cls=LazyCommands,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


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
