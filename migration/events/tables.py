"""Whether a module's messaging tables exist before ``carve events`` reads them.

An unmigrated database would otherwise end a command in a driver error; this
names the module, the missing table and the command that creates it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import Table, inspect

from migration.runtime.discovery import binding_of
from migration.runtime.errors import CarveError, DatabaseUnreachable
from migration.runtime.modules import ModuleSpec
from migration.runtime.project import Project


class NotMigrated(CarveError):
    """A module's database lacks a table carve needs: its migrations have not run."""


def readable(project: Project, specs: Iterable[ModuleSpec],
             tables: Callable[[ModuleSpec], Table]) -> list[ModuleSpec]:
    """The modules whose table ``tables(spec)`` can be read here.

    A local module's table must exist (:class:`NotMigrated` otherwise). A remote
    module's tables live with its service: it is included only when its database,
    as configured here (``DATABASE_URL_<MODULE>``), answers and has the table.
    """
    found = []
    for spec in specs:
        local = binding_of(spec.name, project.config, project.environ) == "local"
        database = project.database(spec.name)
        try:
            database.ping()
            present = inspect(database.engine).has_table(tables(spec).name)
        except DatabaseUnreachable:
            if local:
                raise
            present = False
        if present:
            found.append(spec)
        elif local:
            raise NotMigrated(
                f"module '{spec.name}': no table {tables(spec).name} in {database.safe_url}: "
                f"run carve db upgrade (or carve db upgrade {spec.name})")
    return found


def outbox(spec: ModuleSpec) -> Table:
    """The module's outbox table."""
    return spec.outbox


def dead_letters(spec: ModuleSpec) -> Table:
    """The module's dead-letter table."""
    return spec.dead_letters
